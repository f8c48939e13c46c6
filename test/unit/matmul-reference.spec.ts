import { expect, test } from '@playwright/test';
import { matmulCpu } from '../../src/model/cpu/matmul';
import { randomUniform } from '../../src/util/random';

test('matmulCpu computes a hand-checked product with bias and accumulation', () => {
  // [1 2 3; 4 5 6] · [1 0; 0 1; 1 1] = [4 5; 10 11]
  const a = new Float32Array([1, 2, 3, 4, 5, 6]);
  const b = new Float32Array([1, 0, 0, 1, 1, 1]);
  expect([...matmulCpu({ a, b, M: 2, N: 2, K: 3 })]).toEqual([4, 5, 10, 11]);
  const bias = new Float32Array([0.5, -1]);
  const c = new Float32Array([1, 1, 1, 1]);
  expect([...matmulCpu({ a, b, M: 2, N: 2, K: 3, bias, c })]).toEqual([5.5, 5, 11.5, 11]);
});

test('matmulCpu transposed layouts agree with explicitly transposed inputs', () => {
  const M = 5,
    K = 7,
    N = 3;
  const a = randomUniform(M * K, 1);
  const b = randomUniform(K * N, 2);
  const aT = new Float32Array(K * M);
  const bT = new Float32Array(N * K);
  for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) aT[k * M + m] = a[m * K + k]!;
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) bT[n * K + k] = b[k * N + n]!;
  const plain = matmulCpu({ a, b, M, N, K });
  expect(matmulCpu({ a: aT, b, M, N, K, transA: true })).toEqual(plain);
  expect(matmulCpu({ a, b: bT, M, N, K, transB: true })).toEqual(plain);
  expect(matmulCpu({ a: aT, b: bT, M, N, K, transA: true, transB: true })).toEqual(plain);
});

test('matmulCpu batches, and broadcasts a shared B over the batch', () => {
  const M = 2,
    K = 3,
    N = 4;
  const a = randomUniform(2 * M * K, 3);
  const b = randomUniform(K * N, 4);
  const batched = matmulCpu({ a, b, M, N, K, batch: 2, broadcastB: true });
  expect(batched.subarray(0, M * N)).toEqual(matmulCpu({ a: a.subarray(0, M * K), b, M, N, K }));
  expect(batched.subarray(M * N)).toEqual(matmulCpu({ a: a.subarray(M * K), b, M, N, K }));
});
