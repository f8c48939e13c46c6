// A kernel's uniform parameters, declared once: the launcher lists the fields, and both the
// WGSL `struct Params` (prepended to the kernel by the pipeline cache) and the bytes bound at
// the params binding come from that list, as onnxruntime-web's programUniforms do.

/** WGSL types a uniform field may have: 4-byte scalars, so field i sits at byte 4·i. */
export type UniformType = 'u32' | 'f32';

/** Field names to types, in struct order. */
export type UniformFields = Record<string, UniformType>;

/** The values of every field, by name. */
export type UniformValues<F extends UniformFields> = { readonly [K in keyof F]: number };

export interface Uniforms<F extends UniformFields = UniformFields> {
  readonly fields: F;
  /** `struct Params { name: type, … }`, what the kernel's `var<uniform> p: Params` reads. */
  readonly wgsl: string;
  /** Packs the values in struct order into a buffer of `byteSize` bytes. */
  pack(values: UniformValues<F>): ArrayBuffer;
  /** 4 bytes a field, rounded up to 16 as uniform bindings are. */
  readonly byteSize: number;
}

/** The name of the generated struct. */
const UNIFORM_STRUCT = 'Params';
const FIELD_BYTES = 4;
const UNIFORM_ALIGN = 16;
const U32_MAX = 0xffff_ffff;

/** Declares a kernel's uniforms, e.g. `uniforms({ T: 'u32', scale: 'f32' })`. */
export function uniforms<const F extends UniformFields>(fields: F): Uniforms<F> {
  const names = Object.keys(fields) as (keyof F & string)[];
  if (names.length === 0) throw new Error('a uniforms declaration needs at least one field');
  const byteSize = Math.ceil((names.length * FIELD_BYTES) / UNIFORM_ALIGN) * UNIFORM_ALIGN;
  const wgsl = `struct ${UNIFORM_STRUCT} {\n${names.map((name) => `  ${name}: ${fields[name]},`).join('\n')}\n}\n`;
  return {
    fields,
    wgsl,
    byteSize,
    pack(values) {
      const data = new ArrayBuffer(byteSize);
      const u32 = new Uint32Array(data);
      const f32 = new Float32Array(data);
      for (const [i, name] of names.entries()) {
        const value = values[name];
        if (typeof value !== 'number') throw new TypeError(`uniform ${name} has no value`);
        if (fields[name] === 'f32') f32[i] = value;
        else if (Number.isInteger(value) && value >= 0 && value <= U32_MAX) u32[i] = value;
        else throw new RangeError(`uniform ${name} must be a u32, got ${value}`);
      }
      return data;
    },
  };
}
