import { expect, test } from '@playwright/test';
import { sizeClass } from '../../src/gpu/buffers';
import { adapterKey } from '../../src/gpu/device';
import { grid1d } from '../../src/gpu/grid';
import { assembleWgsl, specKey, wgslPreamble } from '../../src/gpu/pipelines';
import { uniforms } from '../../src/gpu/uniforms';

test('buffer size classes round small sizes to 256 bytes and large ones to powers of two', () => {
  expect(sizeClass(1)).toBe(256);
  expect(sizeClass(257)).toBe(512);
  expect(sizeClass(64 * 1024)).toBe(64 * 1024);
  expect(sizeClass(64 * 1024 + 1)).toBe(128 * 1024);
  expect(sizeClass(3_000_000)).toBe(4 * 1024 * 1024);
  for (const n of [1, 255, 1000, 70_000, 9_999_999]) expect(sizeClass(n) % 4).toBe(0);
});

test('the WGSL preamble declares consts with their types and the low-precision alias', () => {
  expect(wgslPreamble({ TILE: 16, TRANS: true, SCALE: 0.5 }, false)).toBe(
    'alias low_t = f32;\nconst TILE = 16u;\nconst TRANS = true;\nconst SCALE = 0.5f;\n',
  );
  expect(wgslPreamble({}, true)).toBe('enable f16;\nalias low_t = f16;\n');
});

test('pipeline cache keys ignore const order but not values, entry point, precision or uniforms', () => {
  const base = { name: 'k', source: '' };
  expect(specKey({ ...base, consts: { A: 1, B: 2 } })).toBe(specKey({ ...base, consts: { B: 2, A: 1 } }));
  expect(specKey({ ...base, consts: { A: 1 } })).not.toBe(specKey({ ...base, consts: { A: 2 } }));
  expect(specKey(base)).not.toBe(specKey({ ...base, f16: true }));
  expect(specKey(base)).not.toBe(specKey({ ...base, entryPoint: 'other' }));
  const withUniforms = specKey({ ...base, uniforms: uniforms({ n: 'u32' }) });
  expect(withUniforms).not.toBe(specKey(base));
  expect(withUniforms).toBe(specKey({ ...base, uniforms: uniforms({ n: 'u32' }) }));
  expect(withUniforms).not.toBe(specKey({ ...base, uniforms: uniforms({ n: 'f32' }) }));
  expect(withUniforms).not.toBe(specKey({ ...base, uniforms: uniforms({ n: 'u32', scale: 'f32' }) }));
});

test('a uniforms declaration gives the WGSL struct and packs values by name in struct order', () => {
  const params = uniforms({ T: 'u32', scale: 'f32', rows: 'u32' });
  expect(params.wgsl).toBe('struct Params {\n  T: u32,\n  scale: f32,\n  rows: u32,\n}\n');
  expect(params.byteSize).toBe(16); // 12 bytes of fields, rounded up to 16
  const packed = params.pack({ rows: 7, scale: 0.5, T: 0xffff_ffff });
  expect(packed.byteLength).toBe(16);
  expect(new Uint32Array(packed)[0]).toBe(0xffff_ffff);
  expect(new Float32Array(packed)[1]).toBe(0.5);
  expect(new Uint32Array(packed)[2]).toBe(7);
  expect(new Uint32Array(packed)[3]).toBe(0);
  expect(uniforms({ a: 'u32', b: 'u32', c: 'u32', d: 'u32', e: 'f32' }).byteSize).toBe(32);
  // f32 fields take any number, NaN included (crossentropy's invalid loss); u32 fields only u32 values.
  expect(Number.isNaN(new Float32Array(params.pack({ T: 1, scale: NaN, rows: 1 }))[1])).toBe(true);
  expect(() => params.pack({ T: -1, scale: 1, rows: 1 })).toThrow(/uniform T must be a u32, got -1/);
  expect(() => params.pack({ T: 1, scale: 1, rows: 2.5 })).toThrow(/uniform rows must be a u32, got 2.5/);
  expect(() => params.pack({ T: 2 ** 32, scale: 1, rows: 1 })).toThrow(/uniform T must be a u32/);
  // @ts-expect-error: TypeScript checks the names (`row` is not a field, `rows` is missing).
  expect(() => params.pack({ T: 1, scale: 1, row: 1 })).toThrow(/uniform rows has no value/);
  expect(() => uniforms({})).toThrow(/at least one field/);
});

test('assembling WGSL prepends the consts and Params, expands each include once and maps every line back', () => {
  const { code, origins } = assembleWgsl({
    name: 'k',
    consts: { N: 4 },
    uniforms: uniforms({ n: 'u32' }),
    source: 'const A = 1u;\n#include "a.wgsl"\n  #include "b.wgsl"\nfn main() {}',
    includes: { 'a.wgsl': '#include "b.wgsl"\nfn a() {}', 'b.wgsl': 'fn b() {}' },
  });
  const lines = code.trimEnd().split('\n');
  expect(lines).toEqual([
    'alias low_t = f32;',
    'const N = 4u;',
    'struct Params {',
    '  n: u32,',
    '}',
    'const A = 1u;',
    'fn b() {}',
    'fn a() {}',
    'fn main() {}',
  ]);
  expect(origins).toEqual([
    { file: 'preamble', line: 1 },
    { file: 'preamble', line: 2 },
    { file: 'preamble', line: 3 },
    { file: 'preamble', line: 4 },
    { file: 'preamble', line: 5 },
    { file: undefined, line: 1 },
    { file: 'b.wgsl', line: 1 },
    { file: 'a.wgsl', line: 2 },
    { file: undefined, line: 4 },
  ]);
  expect(() => assembleWgsl({ name: 'k', source: 'fn f() {}\n#include "missing.wgsl"' })).toThrow(
    '[gpu:k] line 2: #include "missing.wgsl" is not among the includes (none)',
  );
});

test("directives move before every declaration, the preamble's included, each once", () => {
  const { code, origins } = assembleWgsl({
    name: 'k',
    consts: { N: 4 },
    f16: true,
    source: 'enable subgroups;\n#include "r.wgsl"\nfn main() {}',
    includes: { 'r.wgsl': 'enable subgroups;\ndiagnostic(off, subgroup_uniformity);\nfn r() {}' },
  });
  expect(code.trimEnd().split('\n')).toEqual([
    'enable f16;',
    'enable subgroups;',
    'diagnostic(off, subgroup_uniformity);',
    'alias low_t = f16;',
    'const N = 4u;',
    'fn r() {}',
    'fn main() {}',
  ]);
  expect(origins.slice(0, 3)).toEqual([
    { file: 'preamble', line: 1 },
    { file: undefined, line: 1 },
    { file: 'r.wgsl', line: 2 },
  ]);
});

test('pipeline cache keys tell variants apart by the text of their includes', () => {
  const spec = (reduce: string) => ({
    name: 'k',
    source: '#include "reduce.wgsl"',
    includes: { 'reduce.wgsl': reduce },
  });
  expect(specKey(spec('fn a() {}'))).toBe(specKey(spec('fn a() {}')));
  expect(specKey(spec('fn a() {}'))).not.toBe(specKey(spec('enable subgroups;\nfn a() {}')));
});

test('the adapter key names vendor, architecture, device and description', () => {
  const adapter = { vendor: 'google', architecture: 'swiftshader', device: '', description: 'SwiftShader' };
  expect(adapterKey(adapter)).toBe('google/swiftshader//SwiftShader');
  expect(adapterKey({ ...adapter, device: 'x' })).not.toBe(adapterKey(adapter));
});

test('grid1d folds long ranges into two dimensions within the limit', () => {
  expect(grid1d(100, 64, 65535)).toEqual([2, 1, 1]);
  expect(grid1d(0, 64, 65535)).toEqual([1, 1, 1]);
  const [x, y] = grid1d(10_000_000, 64, 65535);
  expect(x).toBeLessThanOrEqual(65535);
  expect(x * y * 64).toBeGreaterThanOrEqual(10_000_000);
  expect(() => grid1d(2 ** 40, 1, 65535)).toThrow(/workgroups/);
});
