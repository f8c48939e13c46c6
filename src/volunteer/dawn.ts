// How every Node run gets WebGPU: Dawn (the `webgpu` package) over whatever Vulkan driver the machine
// has: a real GPU's, or Mesa's lavapipe on the CPU where there is none (CI). Used by the Node
// volunteer's `--gpu`, the `dawn` test project, `npm run bench -- <name> --node` and scripts/gpu-check.sh.
import { availableParallelism } from 'node:os';
import { create, globals } from 'webgpu';

/** Where Debian's mesa-vulkan-drivers puts lavapipe's Vulkan driver manifest. */
export const LAVAPIPE_ICD = '/usr/share/vulkan/icd.d/lvp_icd.json';

export const NO_ADAPTER_MESSAGE =
  "Dawn found no WebGPU adapter: no usable Vulkan driver. Without a GPU, install Mesa 25's lavapipe and the " +
  'Vulkan loader: as root on Debian, `bash scripts/install-lavapipe.sh` (on Debian 12 it adds bookworm-backports ' +
  "and runs `apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1`: bookworm's own Mesa 22.3 " +
  'lavapipe lacks shaderUniform*ArrayDynamicIndexing, which Dawn requires; elsewhere ' +
  '`apt-get install -y mesa-vulkan-drivers libvulkan1`), then run with ' +
  `VK_ICD_FILENAMES=${LAVAPIPE_ICD} (\`npm test\` does both). With a GPU: its driver's Vulkan ICD ` +
  '(VK_DRIVER_FILES=/path/to/its_icd.json) and libvulkan1.';

let gpu: GPU | undefined;

/** Dawn's GPU, with WebGPU's globals (GPUBufferUsage, …) and navigator.gpu installed, as a page has them. */
export function dawnGpu(): GPU {
  if (gpu) return gpu;
  gpu = create([]);
  Object.assign(globalThis, globals);
  // Node 20 has no navigator; Node 21+ has one without gpu. hardwareConcurrency as a page has it
  // (src/gpu/matmul.ts sizes a CPU adapter's parallelism from it).
  const scope = globalThis as { navigator?: object };
  if (scope.navigator) Object.defineProperty(scope.navigator, 'gpu', { value: gpu, configurable: true });
  else {
    const navigator = { gpu, hardwareConcurrency: availableParallelism() };
    Object.defineProperty(globalThis, 'navigator', { value: navigator, configurable: true });
  }
  return gpu;
}

/** The adapter acquireGpu() will get here; fails saying what to install when Vulkan offers none. */
export async function dawnAdapter(): Promise<GPUAdapter> {
  const adapter = await dawnGpu().requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error(NO_ADAPTER_MESSAGE);
  return adapter;
}

/** Limits that decide our kernels' shapes, printed with the adapter. */
const KEY_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

/** Vendor, architecture, description, subgroup sizes, features and key limits, one per line. */
export function describeAdapter(adapter: GPUAdapter): string {
  const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  return [
    `adapter: ${info.vendor} / ${info.architecture} / ${info.device} / ${info.description}`,
    `  subgroup sizes: ${info.subgroupMinSize ?? '?'}–${info.subgroupMaxSize ?? '?'}`,
    `  features: ${[...adapter.features].sort().join(', ')}`,
    `  limits: ${KEY_LIMITS.map((name) => `${name} ${adapter.limits[name]}`).join(', ')}`,
  ].join('\n');
}
