/** A GPU failure that names the kernel (or batch) it came from. */
export class GpuError extends Error {
  constructor(
    readonly kernel: string,
    message: string,
  ) {
    super(`[gpu:${kernel}] ${message}`);
    this.name = 'GpuError';
  }
}

/** Thrown by every call made after the device was lost; the caller rebuilds with acquireGpu(). */
export class GpuDeviceLostError extends Error {
  constructor(readonly reason: string) {
    super(`GPU device lost (${reason}); acquire a new device to continue`);
    this.name = 'GpuDeviceLostError';
  }
}

/**
 * Runs `body` inside validation + out-of-memory error scopes and throws a GpuError
 * naming `kernel` if either scope caught something.
 */
export async function withErrorScope<T>(device: GPUDevice, kernel: string, body: () => T | Promise<T>): Promise<T> {
  device.pushErrorScope('validation');
  device.pushErrorScope('out-of-memory');
  // The scopes are popped whatever body() does; a GPU error outranks the exception it caused.
  const outcome = await Promise.resolve()
    .then(body)
    .then(
      (value): { value: T } => ({ value }),
      (error: unknown) => ({ error }),
    );
  const oom = await device.popErrorScope();
  const validation = await device.popErrorScope();
  const gpuError = oom ?? validation;
  if (gpuError) throw new GpuError(kernel, gpuError.message);
  if ('error' in outcome) throw outcome.error;
  return outcome.value;
}
