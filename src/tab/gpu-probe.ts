// What the volunteer's GPU is, whether our kernels can train the model on it, and its class for the
// energy estimate: read from the adapter before any worker starts, shown on the page.
import { adapterClassOf } from '../fed';
import type { GpuView } from './state';

/**
 * Limits below which our kernels cannot run the model (checked before training). A round whose
 * largest buffer is over maxStorageBufferBindingSize is refused (round-check.ts).
 */
export const REQUIRED_LIMITS = {
  maxComputeWorkgroupStorageSize: 16 * 1024,
  maxComputeInvocationsPerWorkgroup: 256,
  maxStorageBufferBindingSize: 64 * 1024 * 1024,
} as const satisfies Record<string, number>;
const SHOWN_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupsPerDimension',
];

export async function describeGpu(): Promise<GpuView> {
  const adapter = 'gpu' in navigator ? await navigator.gpu.requestAdapter().catch(() => null) : null;
  if (!adapter) return { available: false, features: [], limits: {}, adapterClass: 'unknown' };
  const limit = (name: string) => Number(adapter.limits[name as keyof GPUSupportedLimits]);
  const limits = Object.fromEntries(SHOWN_LIMITS.map((k) => [k, limit(k)]));
  const short = Object.entries(REQUIRED_LIMITS).filter(([k, need]) => limit(k) < need);
  const info = adapter.info;
  return {
    available: true,
    description: [info.description || info.architecture, info.vendor].filter(Boolean).join(' · ') || 'unknown adapter',
    features: [...adapter.features].sort(),
    limits,
    tooSmall: short.length
      ? short.map(([k, need]) => `${k} is ${limit(k)}, the model needs ${need}`).join('; ')
      : undefined,
    adapterClass: adapterClassOf(info),
  };
}
