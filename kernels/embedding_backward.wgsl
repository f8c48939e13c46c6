// Token-embedding gradient without float atomics: dwte[token] += Σ dout[row] over the rows
// that hold the token. The launcher builds the row lists on the CPU (CSR, rows ascending,
// so every sum has a fixed order) for the U distinct tokens of the batch:
//   index = [ token ids: U | starts: U + 1, offsets into the row lists | row lists: B·T ]
// One thread per (distinct token, channel); consecutive threads take consecutive channels.
// The position-embedding gradient is a plain sum over the batch (sum_blocks.wgsl).
//
// Consts and Params (U, C) from the launcher (src/gpu/embedding.ts): THREADS. Grid: grid1d(U·C, THREADS).

@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read> index: array<u32>;
@group(0) @binding(2) var<storage, read_write> dwte: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * groups.x + wid.x) * THREADS + lid;
  if (i >= p.U * p.C) { return; }
  let u = i / p.C;
  let c = i % p.C;
  let rows = 2u * p.U + 1u; // where the row lists begin
  var sum = 0.0;
  for (var j = index[p.U + u]; j < index[p.U + u + 1u]; j++) {
    sum += dout[index[rows + j] * p.C + c];
  }
  dwte[index[u] * p.C + c] += sum;
}
