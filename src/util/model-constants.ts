// The numbers that define the model's operators, in one place. Every implementation reads them
// from here: the WGSL kernels (their launchers pass them as consts), the CPU reference, the ONNX
// export and the TensorFlow.js baseline. This folder is the floor of the layering: it imports nothing.

/** LayerNorm's epsilon: GPT-2's (and PyTorch's default). */
export const LAYERNORM_EPS = 1e-5;

/** GELU, tanh form as GPT-2: y = 0.5·x·(1 + tanh(√(2/π)·(x + GELU_CUBIC·x³))). */
export const GELU_CUBIC = 0.044715;
export const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** Standard deviation of GPT-2's weight init (residual projections scaled by 1/√(2·layers)). */
export const INIT_STD = 0.02;
