// The peer implementations we measure against, loaded the way an app would load them.

// Imported for its effect: it registers tfjs's 'webgpu' backend (the type import below does not load it).
import '@tensorflow/tfjs-backend-webgpu';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-web/webgpu';

/** Where Vite serves onnxruntime-web's wasm files from during benchmarks. */
const ORT_WASM_PATH = '/node_modules/onnxruntime-web/dist/';

export type Ort = typeof ort;

/**
 * Why onnxruntime-web is not measured here, or undefined where it is (a page). In Node on Dawn
 * (`npm run bench -- <name> --node`) its WebGPU provider creates a session, then fails every run
 * with "Invalid argument" from its wasm (onnxruntime-web 1.30); TensorFlow.js's WebGPU backend runs there.
 */
export const ORT_UNAVAILABLE: string | undefined =
  typeof document === 'undefined'
    ? 'onnxruntime-web not measured: in Node on Dawn its WebGPU provider fails every run ("Invalid argument" from its wasm)'
    : undefined;

/**
 * Why TensorFlow.js is not trained here, or undefined where it is (a page). Node loads tfjs-core's
 * CommonJS build, which has no gradients; they exist only as ES module files whose extensionless
 * imports Node cannot resolve ("Directory import … dist/gradients is not supported").
 */
export const TF_TRAINING_UNAVAILABLE: string | undefined =
  typeof document === 'undefined'
    ? "tfjs-webgpu not measured: in Node, tfjs-core's CommonJS build has no gradients, and its ES module gradient files do not load there"
    : undefined;

/** onnxruntime-web with the WebGPU execution provider. */
export function loadOrt(): Ort {
  ort.env.wasm.wasmPaths = ORT_WASM_PATH;
  ort.env.logLevel = 'error';
  return ort;
}

export async function ortSession(model: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(model, {
    executionProviders: ['webgpu'],
    preferredOutputLocation: 'gpu-buffer',
    graphOptimizationLevel: 'all',
  });
}

/** A float32 ORT tensor living in a GPU buffer on ORT's own device. */
export async function ortGpuTensor(dims: number[], data?: Float32Array): Promise<ort.Tensor> {
  const device = (await ort.env.webgpu.device) as GPUDevice;
  const bytes = dims.reduce((a, b) => a * b, 1) * 4;
  const buffer = device.createBuffer({
    size: Math.ceil(bytes / 16) * 16,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
  if (data) device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  return ort.Tensor.fromGpuBuffer(buffer, { dataType: 'float32', dims, dispose: () => buffer.destroy() });
}

/** An ORT float32 GPU tensor's contents, copied back to the CPU (for checking an output). */
export async function ortReadFloats(tensor: ort.Tensor): Promise<Float32Array> {
  const device = (await ort.env.webgpu.device) as GPUDevice;
  const bytes = tensor.size * 4;
  const staging = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(tensor.gpuBuffer as GPUBuffer, 0, staging, 0, bytes);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const floats = new Float32Array(staging.getMappedRange().slice(0));
  staging.destroy();
  return floats;
}

export async function ortIdle(): Promise<void> {
  const device = (await ort.env.webgpu.device) as GPUDevice;
  await device.queue.onSubmittedWorkDone();
}

/** TensorFlow.js on its WebGPU backend. */
export async function loadTf(): Promise<{ tf: typeof tf; idle: () => Promise<void> }> {
  await tf.setBackend('webgpu');
  await tf.ready();
  const backend = tf.backend() as WebGPUBackend;
  return {
    tf,
    // tfjs batches dispatches and submits lazily: close its open pass, submit, then wait for the queue.
    idle: async () => {
      backend.endComputePassEncoder();
      // submitQueue() finishes the current encoder, which is null when tfjs already submitted everything.
      if ((backend as unknown as { commandEncoder: GPUCommandEncoder | null }).commandEncoder) backend.submitQueue();
      await backend.device.queue.onSubmittedWorkDone();
    },
  };
}
