import { type BufferPool, createBufferPool } from './buffers';
import { GpuDeviceLostError } from './errors';
import { createPipelineCache, type PipelineCache } from './pipelines';

/** What we record about the adapter: shown to volunteers, written into benchmark results. */
export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  features: string[];
  limits: Record<string, number>;
}

/**
 * Names the adapter (vendor/architecture/device/description) the same way in every session,
 * so that what was measured on it, such as matmul tiles, can be stored and found again.
 */
export function adapterKey(
  adapter: Pick<AdapterSummary, 'vendor' | 'architecture' | 'device' | 'description'>,
): string {
  return [adapter.vendor, adapter.architecture, adapter.device, adapter.description].join('/');
}

/**
 * Which form of a kernel runs on this device, chosen from adapter facts (never a vendor name); a
 * caller may force any of them, so that tests run every form on whatever adapter they have.
 */
export interface KernelVariants {
  /** Workgroup-wide sums and maxima: with subgroup operations (needs `subgroups`), or through workgroup memory alone. */
  reductions: 'subgroup' | 'workgroup';
  /**
   * How kernels spend threads. 'cpu' on a fallback adapter (one that runs on the CPU: SwiftShader,
   * lavapipe), where each invocation that meets a barrier costs a context switch: few threads per
   * workgroup, few barriers, and no extra passes to make more workgroups. 'gpu' otherwise: enough
   * threads and workgroups to fill a GPU's many cores.
   */
  shapes: 'cpu' | 'gpu';
}

/** The variants an adapter gets unless forced: see KernelVariants. */
function defaultVariants(adapter: Pick<AdapterSummary, 'isFallbackAdapter'>, has: { subgroups: boolean }) {
  return {
    reductions: has.subgroups ? 'subgroup' : 'workgroup',
    shapes: adapter.isFallbackAdapter ? 'cpu' : 'gpu',
  } as const satisfies KernelVariants;
}

/** The device plus the shared machinery every kernel launcher uses. */
export interface Gpu {
  readonly device: GPUDevice;
  readonly adapter: AdapterSummary;
  /** Optional features this device was created with. */
  readonly has: { f16: boolean; subgroups: boolean; timestamps: boolean };
  readonly variants: KernelVariants;
  readonly limits: GPUSupportedLimits;
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  /** Set once the device is lost; every later submit throws GpuDeviceLostError. */
  readonly lost: { reason: string } | undefined;
  /** Throws GpuDeviceLostError when the device is gone. */
  assertAlive(): void;
  /** Resolves when all work submitted so far has finished on the GPU. */
  idle(): Promise<void>;
  destroy(): void;
}

export interface AcquireOptions {
  powerPreference?: GPUPowerPreference;
  /** Called when the device is lost for any reason other than destroy(); rebuild with acquireGpu(). */
  onLost?: (reason: string) => void;
  /** Leave out optional features, e.g. to exercise the f32 fallback on an f16-capable adapter. */
  disableFeatures?: GPUFeatureName[];
  /** navigator.gpu in a page or worker; the `webgpu` package's GPU in Node. */
  gpu?: GPU;
  /** Kernel variants to use instead of the adapter's defaults (tests); 'subgroup' reductions need `subgroups`. */
  variants?: Partial<KernelVariants>;
}

/** Limits we ask for at the adapter's maximum: large activations and big workgroup tiles need them. */
const REQUESTED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

// 'subgroups' is newer than the GPUFeatureName union in @webgpu/types.
const OPTIONAL_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as GPUFeatureName[];

export function webgpuUnavailableMessage(): string {
  return (
    'WebGPU is not available in this browser context. Use Chrome or Edge 113+ (or Firefox 141+, Safari 26+) ' +
    'on a secure origin (https or http://localhost). Headless Chromium needs --enable-unsafe-webgpu, and on a ' +
    'machine without a GPU also --enable-unsafe-swiftshader --use-webgpu-adapter=swiftshader.'
  );
}

export async function acquireGpu(options: AcquireOptions = {}): Promise<Gpu> {
  const gpu = options.gpu ?? (typeof navigator !== 'undefined' ? navigator.gpu : undefined);
  if (!gpu) throw new Error(webgpuUnavailableMessage());
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) throw new Error(`navigator.gpu.requestAdapter() returned null. ${webgpuUnavailableMessage()}`);

  const requiredLimits: Record<string, number> = {};
  for (const name of REQUESTED_LIMITS) requiredLimits[name] = adapter.limits[name];
  const disabled = new Set(options.disableFeatures ?? []);
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f) && !disabled.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'vgpu' });

  const summary = summarizeAdapter(adapter, device);
  const has = {
    f16: device.features.has('shader-f16'),
    subgroups: device.features.has('subgroups'),
    timestamps: device.features.has('timestamp-query'),
  };
  const variants = { ...defaultVariants(summary, has), ...options.variants };
  if (variants.reductions === 'subgroup' && !has.subgroups) {
    device.destroy();
    throw new Error('subgroup reductions were asked for, but this device has no `subgroups` feature');
  }
  const pool = createBufferPool(device, device.limits.maxBufferSize);
  const pipelines = createPipelineCache(device);
  let lost: { reason: string } | undefined;
  let destroying = false;

  const assertAlive = () => {
    if (lost) throw new GpuDeviceLostError(lost.reason);
  };
  void device.lost.then((info) => {
    lost = { reason: `${info.reason}: ${info.message}` };
    if (!destroying) options.onLost?.(lost.reason);
  });

  return {
    device,
    adapter: summary,
    has,
    variants,
    limits: device.limits,
    pool,
    pipelines,
    get lost() {
      return lost;
    },
    assertAlive,
    async idle() {
      assertAlive();
      await device.queue.onSubmittedWorkDone();
      assertAlive();
    },
    destroy() {
      destroying = true;
      pool.destroy();
      device.destroy();
    },
  };
}

function summarizeAdapter(adapter: GPUAdapter, device: GPUDevice): AdapterSummary {
  const info = adapter.info;
  const limits: Record<string, number> = {};
  for (const name of REQUESTED_LIMITS) limits[name] = device.limits[name];
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isFallbackAdapter: info.isFallbackAdapter ?? false,
    features: [...adapter.features].sort(),
    limits,
  };
}
