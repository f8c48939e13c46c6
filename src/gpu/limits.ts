// Limits of our kernels that callers check before they build anything (no WGSL imports here, so Node code can use them).

/** Largest head dimension the attention kernels accept: q, k and v tiles live in workgroup memory. */
export const MAX_HEAD_DIM = 128;
