import { expect, inPage, test } from '../harness/page';

const CASES = '/test/browser/gpu.cases.ts';

test('the device is created with the adapter limits and its info is recorded', async ({ gpuPage }) => {
  const { adapter } = await inPage<{ adapter: { limits: Record<string, number>; features: string[]; vendor: string } }>(
    gpuPage,
    CASES,
    'adapterSummary',
  );
  const adapterLimits = await gpuPage.evaluate(async () => {
    const a = await navigator.gpu.requestAdapter();
    return { storage: a!.limits.maxStorageBufferBindingSize, shared: a!.limits.maxComputeWorkgroupStorageSize };
  });
  expect(adapter.limits.maxStorageBufferBindingSize).toBe(adapterLimits.storage);
  expect(adapter.limits.maxComputeWorkgroupStorageSize).toBe(adapterLimits.shared);
  expect(adapter.features.length).toBeGreaterThan(0);
});

test('a WGSL compile error throws a GpuError naming the kernel and line', async ({ gpuPage }) => {
  const r = await inPage<{ threw: boolean; message: string }>(gpuPage, CASES, 'compileErrorNamesKernel');
  expect(r.threw).toBe(true);
  expect(r.message).toContain('[gpu:broken_kernel]');
  expect(r.message).toMatch(/line 1:/);
});

test('a WGSL compile error in an included file names that file and line', async ({ gpuPage }) => {
  const r = await inPage<{ threw: boolean; message: string }>(gpuPage, CASES, 'includedCompileErrorNamesFile');
  expect(r.threw).toBe(true);
  expect(r.message).toContain('[gpu:broken_include]');
  expect(r.message).toMatch(/helpers\.wgsl line 2:/);
});

test('an invalid dispatch throws a GpuError naming the batch and kernel', async ({ gpuPage }) => {
  const r = await inPage<{ threw: boolean; message: string }>(gpuPage, CASES, 'dispatchErrorNamesKernel');
  expect(r.threw).toBe(true);
  expect(r.message).toContain('bad-dispatch [needs_1k]');
});

test('the pipeline cache compiles each kernel and parameter set once', async ({ gpuPage }) => {
  const r = await inPage<{ same: boolean; different: boolean; added: number }>(gpuPage, CASES, 'pipelineCacheReuses');
  expect(r).toEqual({ same: true, different: true, added: 2 });
});

test('the buffer pool reuses released buffers and tracks live and peak bytes', async ({ gpuPage }) => {
  const r = await inPage<{ live: number; reused: boolean; peak: number; doubleRelease: string; oversize: string }>(
    gpuPage,
    CASES,
    'bufferPoolReuses',
  );
  expect(r.live).toBe(2 * 4096);
  expect(r.reused).toBe(true);
  expect(r.peak).toBe(2 * 4096);
  expect(r.doubleRelease).toMatch(/not live in this pool/);
  expect(r.oversize).toMatch(/exceeds the device's maxBufferSize/);
});

test('the profiler times each kernel with timestamp queries', async ({ gpuPage }) => {
  const r = await inPage<{
    hasTimestamps: boolean;
    profile: { clock: string; totalNs: number; kernels: { kernel: string; ns: number }[] };
  }>(gpuPage, CASES, 'profilerTimesKernels', { withTimestamps: true });
  // SwiftShader and real GPUs here expose timestamp-query; an adapter without it must report the wall clock.
  expect(r.profile.clock).toBe(r.hasTimestamps ? 'timestamp' : 'wallclock');
  expect(r.profile.kernels.map((k) => k.kernel)).toEqual(r.hasTimestamps ? ['matmul', 'matmul'] : []);
  expect(r.profile.totalNs).toBeGreaterThan(0);
});

test('the profiler falls back to the wall clock without timestamp-query', async ({ gpuPage }) => {
  const r = await inPage<{ hasTimestamps: boolean; profile: { clock: string; totalNs: number; kernels: unknown[] } }>(
    gpuPage,
    CASES,
    'profilerTimesKernels',
    { withTimestamps: false },
  );
  expect(r.hasTimestamps).toBe(false);
  expect(r.profile.clock).toBe('wallclock');
  expect(r.profile.totalNs).toBeGreaterThan(0);
  expect(r.profile.kernels).toEqual([]);
});

test('a lost device is reported, later work fails fast, and a rebuilt device computes', async ({ freshGpuPage }) => {
  // A fresh page: nothing else shares the page whose device it loses.
  const r = await inPage<{ lostReason: string; afterLoss: string; rebuiltWorst: number }>(
    freshGpuPage,
    CASES,
    'deviceLossIsRecoverable',
  );
  expect(r.lostReason).toMatch(/destroyed|unknown/);
  expect(r.afterLoss).toMatch(/GPU device lost/);
  expect(r.rebuiltWorst).toBeLessThanOrEqual(1);
});
