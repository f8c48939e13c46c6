import { expect, test } from '@playwright/test';
import * as ort from 'onnxruntime-web';
import { matmulCpu } from '../../src/model/cpu/matmul';
import { encodeOnnxModel } from '../../src/onnx';
import { int, packedInts, string } from '../../src/onnx/protobuf';
import { randomUniform } from '../../src/util/random';

test('protobuf fields encode as the wire format specifies', () => {
  expect([...int(1, 150)]).toEqual([0x08, 0x96, 0x01]);
  expect([...string(2, 'hi')]).toEqual([0x12, 0x02, 0x68, 0x69]);
  expect([...packedInts(1, [3, 270])]).toEqual([0x0a, 0x03, 0x03, 0x8e, 0x02]);
  expect([...int(3, -1)].length).toBe(11); // negative int64: ten-byte varint
});

test('onnxruntime-web loads and runs a model we wrote: MatMul + Add with an initializer', async () => {
  ort.env.wasm.numThreads = 1;
  const M = 3,
    K = 5,
    N = 4;
  const bias = randomUniform(N, 9);
  const model = encodeOnnxModel({
    name: 'linear',
    inputs: [
      { name: 'A', shape: ['rows', K] },
      { name: 'B', shape: [K, N] },
    ],
    outputs: [{ name: 'Y', shape: ['rows', N] }],
    nodes: [
      { op: 'MatMul', inputs: ['A', 'B'], outputs: ['AB'] },
      { op: 'Add', inputs: ['AB', 'bias'], outputs: ['Y'] },
    ],
    initializers: [{ name: 'bias', dims: [N], data: bias }],
  });
  const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'] });
  const a = randomUniform(M * K, 1);
  const b = randomUniform(K * N, 2);
  const { Y } = await session.run({ A: new ort.Tensor('float32', a, [M, K]), B: new ort.Tensor('float32', b, [K, N]) });
  expect(Y!.dims).toEqual([M, N]);
  const want = matmulCpu({ a, b, M, N, K, bias });
  const got = Y!.data as Float32Array;
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-5);
  await session.release();
});
