// Moves one slot between attention's two layouts, one element per thread:
//   token-major [B, T, slots, H, D]: what the matmuls read and write (qkv has 3 slots: q, k, v;
//                                    the merged attention output has 1)
//   head-major  [B, H, T, D]:        what the attention kernels read and write
// TO_HEADS copies slot `slot` of the token-major src into the head-major dst; otherwise the
// reverse. Threads walk the head-major side, so both sides move in contiguous runs of D.
//
// Consts and Params (n, T, H, D, slots, slot) from the launcher (src/gpu/heads.ts): THREADS, TO_HEADS.
// Grid: grid1d(B·H·T·D, THREADS).

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * groups.x + wid.x) * THREADS + lid; // head-major index of (b, h, t, d)
  if (i >= p.n) { return; }
  let d = i % p.D;
  let t = (i / p.D) % p.T;
  let h = (i / (p.D * p.T)) % p.H;
  let b = i / (p.D * p.T * p.H);
  let j = (((b * p.T + t) * p.slots + p.slot) * p.H + h) * p.D + d; // token-major index
  if (TO_HEADS) { dst[i] = src[j]; } else { dst[j] = src[i]; }
}
