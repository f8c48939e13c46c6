// Shared by the attention kernels; src/gpu/attention.ts prepends it to each of them.

// Four consecutive head-dimension values of a row, zero past HEAD_DIM and for rows past T.
fn row4(x0: f32, x1: f32, x2: f32, x3: f32, d: u32, valid: bool) -> vec4<f32> {
  let inside = (vec4<u32>(d, d + 1u, d + 2u, d + 3u) < vec4<u32>(HEAD_DIM)) & vec4<bool>(valid);
  return select(vec4<f32>(0.0), vec4<f32>(x0, x1, x2, x3), inside);
}
