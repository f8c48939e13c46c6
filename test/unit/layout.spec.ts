import { expect, test } from '@playwright/test';
import {
  checkKernelLimits,
  decaySegments,
  initParams,
  LAYOUT_VERSION,
  type LayerTensors,
  parameterCount,
  paramLayout,
  view,
} from '../../src/model';
import { TENSOR_ALIGN } from '../../src/model/layout';

const config = { vocab: 37, context: 16, layers: 2, heads: 2, width: 24 };

test('layout v1: tensors in order, 64-float aligned, no overlaps, GPT-2 shapes and parameter count', () => {
  const layout = paramLayout(config);
  expect(layout.version).toBe(LAYOUT_VERSION);
  const C = config.width;
  // wte + wpe + per layer (2 LN × 2C + qkv 3C² + 3C + proj C² + C + fc 4C² + 4C + proj 4C² + C) + lnf 2C
  const expected = 37 * C + 16 * C + 2 * (4 * C + 12 * C * C + 9 * C) + 2 * C;
  expect(parameterCount(layout)).toBe(expected);
  expect(layout.tensors.map((t) => t.name).slice(0, 4)).toEqual(['wte', 'wpe', 'h0.ln1.g', 'h0.ln1.b']);
  expect(layout.params.layers[1]!.mlp.proj.w.shape).toEqual([4 * C, C]);
  let end = 0;
  for (const t of layout.tensors) {
    expect(t.offset % TENSOR_ALIGN).toBe(0);
    expect(t.offset).toBeGreaterThanOrEqual(end);
    expect(t.decay).toBe(t.shape.length === 2);
    end = t.offset + t.size;
  }
  expect(layout.total).toBeGreaterThanOrEqual(end);
  expect(layout.total % TENSOR_ALIGN).toBe(0);
});

test('the named view holds every tensor once, in layout order, under the name its role gives', () => {
  const layout = paramLayout(config);
  const P = layout.params;
  const block = (l: LayerTensors) => [
    l.ln1.g,
    l.ln1.b,
    l.attn.qkv.w,
    l.attn.qkv.b,
    l.attn.proj.w,
    l.attn.proj.b,
    l.ln2.g,
    l.ln2.b,
    l.mlp.fc.w,
    l.mlp.fc.b,
    l.mlp.proj.w,
    l.mlp.proj.b,
  ];
  const inOrder = [P.wte, P.wpe, ...P.layers.flatMap(block), P.lnf.g, P.lnf.b];
  expect(P.layers).toHaveLength(config.layers);
  expect(inOrder).toHaveLength(layout.tensors.length);
  inOrder.forEach((t, i) => {
    expect(t).toBe(layout.tensors[i]);
  });
  const C = config.width;
  expect(P.layers[1]!.attn.qkv.w).toMatchObject({ name: 'h1.attn.qkv.w', shape: [C, 3 * C] });
  expect(P.layers[0]!.mlp.fc.b).toMatchObject({ name: 'h0.mlp.fc.b', shape: [4 * C] });
  expect(P.lnf.g).toMatchObject({ name: 'lnf.g', shape: [C] });
  expect(P.wpe).toMatchObject({ name: 'wpe', shape: [config.context, C] });
});

test('the layout round-trips: every tensor written through its view reads back from the flat vector and from a copy', () => {
  const layout = paramLayout(config);
  const flat = new Float32Array(layout.total);
  for (const [i, t] of layout.tensors.entries()) view(flat, t).fill(i + 1);
  // A weight shard is a byte range: copy the bytes and read each tensor back from them.
  const copy = new Float32Array(new Uint8Array(flat.buffer).slice().buffer);
  layout.tensors.forEach((t, i) => {
    expect(view(copy, t).every((x) => x === i + 1)).toBe(true);
  });
  // Padding is left untouched (zero).
  const covered = new Uint8Array(layout.total);
  for (const t of layout.tensors) covered.fill(1, t.offset, t.offset + t.size);
  expect(copy.every((x, i) => covered[i] === 1 || x === 0)).toBe(true);
  // The same config always gives the same layout.
  expect(JSON.parse(JSON.stringify(paramLayout(config)))).toEqual(layout);
});

test('decay segments tile the whole vector and follow the tensors', () => {
  const layout = paramLayout(config);
  const segments = decaySegments(layout);
  let end = 0;
  for (const s of segments) {
    expect(s.offset).toBe(end);
    end = s.offset + s.length;
  }
  expect(end).toBe(layout.total);
  expect(segments.map((s) => s.decay)).toEqual(layout.tensors.map((t) => t.decay));
});

test('initialisation is deterministic per seed with GPT-2 statistics', () => {
  const layout = paramLayout({ vocab: 256, context: 64, layers: 2, heads: 4, width: 64 });
  const a = initParams(layout, 3);
  expect(initParams(layout, 3)).toEqual(a);
  expect(initParams(layout, 4)).not.toEqual(a);
  const wte = view(a, layout.params.wte);
  const std = Math.sqrt(wte.reduce((s, x) => s + x * x, 0) / wte.length);
  expect(std).toBeGreaterThan(0.018);
  expect(std).toBeLessThan(0.022);
  expect(view(a, layout.params.layers[0]!.ln1.g).every((x) => x === 1)).toBe(true);
  expect(view(a, layout.params.layers[0]!.attn.qkv.b).every((x) => x === 0)).toBe(true);
});

test('bad configs get clear errors', () => {
  expect(() => paramLayout({ ...config, heads: 5 })).toThrow(/heads \(5\) must divide width \(24\)/);
  expect(() => paramLayout({ ...config, context: 1e6 })).toThrow(/context 1000000 exceeds the limit/);
  expect(() => paramLayout({ ...config, layers: 0 })).toThrow(/layers must be a positive integer/);
});

test('a head wider than our attention kernels run is a valid shape, refused by checkKernelLimits', () => {
  const wide = { ...config, width: 1024, heads: 4 };
  expect(() => paramLayout(wide)).not.toThrow();
  expect(() => checkKernelLimits(wide)).toThrow(/head dimension 256 exceeds 128/);
  expect(() => checkKernelLimits({ ...config, width: 512, heads: 4 })).not.toThrow();
});
