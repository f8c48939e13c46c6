// Token + position embedding, one output element per thread:
//   out[r, c] = wte[tokens[r], c] + wpe[r mod T, c]     for the B·T rows r = b·T + t
// Token ids must be < V: the kernel cannot throw (embeddingBackward checks them on the CPU).
//
// Consts and Params (n = B·T·C, T, C) from the launcher (src/gpu/embedding.ts): THREADS.
// Grid: grid1d(B·T·C, THREADS).

@group(0) @binding(0) var<storage, read> tokens: array<u32>;
@group(0) @binding(1) var<storage, read> wte: array<f32>;
@group(0) @binding(2) var<storage, read> wpe: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * groups.x + wid.x) * THREADS + lid;
  if (i >= p.n) { return; }
  let row = i / p.C;
  let c = i % p.C;
  let t = row % p.T;
  out[i] = wte[tokens[row] * p.C + c] + wpe[t * p.C + c];
}
