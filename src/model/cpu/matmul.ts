/**
 * The matmul oracle, written for reading: C[b] = op(A[b]) · op(B[b]) (+ bias) (+ C[b]).
 * Same layouts and options as the GPU launcher (src/gpu/matmul.ts). Sums in f64.
 */
export interface CpuMatmulArgs {
  a: Float32Array;
  b: Float32Array;
  M: number;
  N: number;
  K: number;
  batch?: number;
  broadcastA?: boolean;
  broadcastB?: boolean;
  transA?: boolean;
  transB?: boolean;
  bias?: Float32Array;
  /** Existing C to add into (accumulate); a new zero C otherwise. */
  c?: Float32Array;
}

export function matmulCpu(args: CpuMatmulArgs): Float32Array {
  const { a, b, M, N, K } = args;
  const batch = args.batch ?? 1;
  const c = args.c ? Float32Array.from(args.c) : new Float32Array(batch * M * N);
  for (let bi = 0; bi < batch; bi++) {
    const offA = args.broadcastA ? 0 : bi * M * K;
    const offB = args.broadcastB ? 0 : bi * K * N;
    const offC = bi * M * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let sum = 0;
        for (let k = 0; k < K; k++) {
          const av = args.transA ? a[offA + k * M + m]! : a[offA + m * K + k]!;
          const bv = args.transB ? b[offB + n * K + k]! : b[offB + k * N + n]!;
          sum += av * bv;
        }
        if (args.bias) sum += args.bias[n]!;
        c[offC + m * N + n]! += sum;
      }
    }
  }
  return c;
}
