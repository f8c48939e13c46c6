// LayerNorm backward for gamma and beta, first stage of a deterministic two-stage reduction
// (no float atomics): each thread sums one channel over one block of ROWS_PER_BLOCK rows,
//   dgamma partial = Σ dy·x̂,   dbeta partial = Σ dy,   x̂ = (x − mean)·rstd,
// into partials [2, blocks, C] (dgamma's blocks, then dbeta's). The launcher then sums the
// blocks into dgamma and dbeta with sum_blocks.wgsl. Reads are coalesced along channels.
//
// Consts and Params (rows, C, blocks) from the launcher (src/gpu/layernorm.ts): THREADS, ROWS_PER_BLOCK.
// Grid: (ceil(C / THREADS), blocks).

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> saved_mean: array<f32>;
@group(0) @binding(3) var<storage, read> saved_rstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> partials: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(THREADS)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let block = gid.y;
  if (c >= p.C) { return; }
  let first = block * ROWS_PER_BLOCK;
  let end = min(first + ROWS_PER_BLOCK, p.rows);
  var dgamma = 0.0;
  var dbeta = 0.0;
  for (var r = first; r < end; r++) {
    let d = dy[r * p.C + c];
    dgamma += d * (x[r * p.C + c] - saved_mean[r]) * saved_rstd[r];
    dbeta += d;
  }
  partials[block * p.C + c] = dgamma;
  partials[(p.blocks + block) * p.C + c] = dbeta;
}
