// The model out of a run folder (issue 18, item 4): `npm run export` writes a checkpoint as ONNX
// (onnxruntime gives the CPU reference's logits) or safetensors (parsed back here by the format's
// rules, its names checked against GPT-2's), and `npm run sample` continues a prompt, reproducibly.
// Both only read the run folder, and a failure names the path and leaves no output file.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';
import * as ort from 'onnxruntime-web';
import { Tokenizer } from '../../src/data';
import { continueTokens, exportCommand, type Printer, sampleCommand } from '../../src/export';
import { freshCoordinatorState } from '../../src/fed';
import { type GptConfig, gptForwardCpu, initParams, type ParamLayout, paramLayout, view } from '../../src/model';
import { saveCheckpoint } from '../../src/seed/checkpoint';
import { createRandom } from '../../src/util/random';
import { compareArrays } from '../harness/compare';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TEXT = `The jury further said in term-end presentments that the City Executive Committee, which had
over-all charge of the election, deserves the praise and thanks of the City of Atlanta for the manner
in which the election was conducted. The September-October term jury had been charged by Fulton
Superior Court Judge Durwood Pye to investigate reports of possible irregularities in the hard-fought
primary which was won by Mayor-nominate Ivan Allen Jr. Only a relative handful of such reports was
received, the jury said, considering the widespread interest in the election.`;
const VOCAB = 300;

let dir: string;
let run: string;
let model: GptConfig;
let layout: ParamLayout;
/** The run's weights by round: 0 is the initial weights, 1 and 2 are checkpointed. */
const weights: Float32Array[] = [];

/** Weights far from the init's near-uniform logits, so that a wrong tensor shows. */
function trainedLike(seed: number): Float32Array {
  const params = new Float32Array(layout.total);
  const init = initParams(layout, seed);
  const next = createRandom(seed);
  for (const t of layout.tensors) view(params, t).set(view(init, t).map((v) => v * 10 + (next() - 0.5) * 0.2));
  return params;
}

test.beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vgpu-export-'));
  run = join(dir, 'run');
  const tokenizer = Tokenizer.train(TEXT, VOCAB);
  expect(tokenizer.vocabSize).toBe(VOCAB);
  model = { vocab: VOCAB, context: 16, layers: 2, heads: 2, width: 8 };
  layout = paramLayout(model);
  weights.push(initParams(layout, 1), trainedLike(2), trainedLike(3));
  // The files the seed's run folder holds that export and sample read (src/seed/run-folder.ts, data.ts).
  await mkdir(join(run, 'data'), { recursive: true });
  await writeFile(join(run, 'run.json'), JSON.stringify({ model, createdAt: new Date().toISOString() }));
  await writeFile(join(run, 'weights.f32'), weights[0]!);
  await writeFile(join(run, 'data', 'tokenizer.json'), JSON.stringify(tokenizer.toJSON()));
  for (const round of [1, 2]) await saveCheckpoint(run, { ...freshCoordinatorState(weights[round]!), round });
  // A temporary file a killed seed left: the seed's loader would remove it, a reader must not.
  await writeFile(join(run, 'checkpoints', 'round-000002', 'weights.f32.tmp-999'), 'half');
});

test.afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Every file under `root` with the sha256 of its bytes, to show a command wrote nothing there. */
async function snapshot(root: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const name of await readdir(root, { recursive: true })) {
    const path = join(root, name);
    if (!(await stat(path)).isFile()) continue;
    const bytes = await readFile(path);
    files.set(name, createHash('sha256').update(bytes).digest('hex'));
  }
  return files;
}

/** Runs a command in this process, capturing what it prints. */
async function inProcess(command: (argv: string[], print: Printer) => Promise<number>, ...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const status = await command(argv, {
    log: (line) => void out.push(`${line}\n`),
    error: (line) => void err.push(`${line}\n`),
  });
  return { status, stdout: out.join(''), stderr: err.join('') };
}

const exportCli = (...argv: string[]) => inProcess(exportCommand, ...argv);
const sampleCli = (...argv: string[]) => inProcess(sampleCommand, ...argv);

/** Runs a script as `npm run` does (tsx), through node's --import hook. */
function spawnScript(script: string, ...argv: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, ...argv], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('export --format onnx, as a process: onnxruntime gives the CPU reference logits of the latest checkpoint', async () => {
  const before = await snapshot(run);
  const out = join(dir, 'model.onnx');
  const r = spawnScript('scripts/export.ts', '--run', run, '--format', 'onnx', '--out', out);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toContain(`${out}: onnx, round 2 of ${run}, 2 layers × 8 wide, vocabulary ${VOCAB}`);
  expect(await snapshot(run)).toEqual(before); // the stale temporary file included
  expect((await readdir(dir)).filter((n) => n.includes('.tmp-'))).toEqual([]);

  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(await readFile(out), { executionProviders: ['wasm'] });
  const next = createRandom(5);
  for (const T of [1, 5, model.context]) {
    const tokens = Uint32Array.from({ length: T }, () => Math.floor(next() * VOCAB));
    const input = new ort.Tensor('int64', BigInt64Array.from(tokens, BigInt), [1, T]);
    const { logits } = await session.run({ tokens: input });
    expect(logits!.dims).toEqual([1, T, VOCAB]);
    const want = gptForwardCpu(layout, weights[2]!, tokens, undefined, 1, T).logits;
    const other = gptForwardCpu(layout, weights[1]!, tokens, undefined, 1, T).logits;
    expect(Math.max(...want.map((w, i) => Math.abs(w - other[i]!)))).toBeGreaterThan(0.1); // rounds differ
    // The tolerance of test/unit/onnx-gpt.spec.ts.
    const { worst, at } = compareArrays(logits!.data as Float32Array, want, 1e-4, 1e-4);
    expect(worst, `T=${T} logit ${at}`).toBeLessThanOrEqual(1);
  }
  await session.release();
});

interface ParsedTensor {
  dtype: string;
  shape: number[];
  data: Float32Array;
}

/** A safetensors file read by the format's rules, which it checks (huggingface/safetensors README). */
function parseSafetensors(bytes: Uint8Array): { metadata: Record<string, string>; tensors: Map<string, ParsedTensor> } {
  const view8 = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view8.getBigUint64(0, true));
  expect(headerLength % 8).toBe(0); // the data starts 8-aligned
  const headerText = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
  expect(headerText.startsWith('{')).toBe(true);
  expect(headerText.trimEnd().endsWith('}')).toBe(true); // padded with spaces only
  const header = JSON.parse(headerText) as Record<string, unknown>;
  const { __metadata__: metadata, ...entries } = header as {
    __metadata__: Record<string, string>;
  } & Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  for (const value of Object.values(metadata)) expect(typeof value).toBe('string');
  const data = bytes.subarray(8 + headerLength);
  const tensors = new Map<string, ParsedTensor>();
  let end = 0;
  // The byte buffer is covered without holes or overlaps.
  const byOffset = Object.entries(entries).sort(([, a], [, b]) => a.data_offsets[0] - b.data_offsets[0]);
  for (const [name, { dtype, shape, data_offsets }] of byOffset) {
    const [begin, stop] = data_offsets;
    expect(begin, name).toBe(end);
    expect(stop - begin, name).toBe(4 * shape.reduce((a, b) => a * b, 1));
    const values = new Float32Array((stop - begin) / 4);
    const raw = new DataView(data.buffer, data.byteOffset + begin, stop - begin);
    for (let i = 0; i < values.length; i++) values[i] = raw.getFloat32(4 * i, true);
    tensors.set(name, { dtype, shape, data: values });
    end = stop;
  }
  expect(end).toBe(data.length);
  return { metadata, tensors };
}

test('export --format safetensors --round 1: every tensor under its layout name, bit for bit, and the config', async () => {
  const out = join(dir, 'round1.safetensors');
  const r = await exportCli('--run', run, '--format', 'safetensors', '--out', out, '--round', '1');
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toContain(`${out}: safetensors, round 1 of ${run}`);
  const { metadata, tensors } = parseSafetensors(new Uint8Array(await readFile(out)));
  expect(metadata).toEqual({ config: JSON.stringify(model), layout_version: '1', round: '1' });
  expect(paramLayout(JSON.parse(metadata.config!) as GptConfig)).toEqual(layout);
  expect([...tensors.keys()].sort()).toEqual(layout.tensors.map((t) => t.name).sort());
  for (const t of layout.tensors) {
    const got = tensors.get(t.name)!;
    expect(got.dtype).toBe('F32');
    expect(got.shape).toEqual(t.shape);
    expect(Buffer.from(got.data.buffer).equals(Buffer.from(view(weights[1]!, t).slice().buffer)), t.name).toBe(true);
  }
});

/** README's table: our tensor name → the name in GPT-2's checkpoints (Hugging Face `gpt2`). */
function gpt2Name(ours: string): string {
  const parts: Record<string, string> = {
    wte: 'wte',
    wpe: 'wpe',
    ln1: 'ln_1',
    ln2: 'ln_2',
    'attn.qkv': 'attn.c_attn',
    'attn.proj': 'attn.c_proj',
    'mlp.fc': 'mlp.c_fc',
    'mlp.proj': 'mlp.c_proj',
    lnf: 'ln_f',
  };
  const suffixes: Record<string, string> = { g: 'weight', b: 'bias', w: 'weight' };
  if (ours === 'wte' || ours === 'wpe') return `${ours}.weight`;
  const m = /^(?:h(\d+)\.)?(.+)\.([gbw])$/.exec(ours);
  if (!m || !(m[2]! in parts)) throw new Error(`no GPT-2 name for ${ours}`);
  return `${m[1] === undefined ? '' : `h.${m[1]}.`}${parts[m[2]!]}.${suffixes[m[3]!]}`;
}

/** GPT-2's parameters by name and shape for a config (its Conv1D weights are [in, out]; lm_head is wte). */
function gpt2Shapes(n: { vocab_size: number; n_positions: number; n_embd: number; n_layer: number }) {
  const C = n.n_embd;
  const shapes: Record<string, number[]> = {
    'wte.weight': [n.vocab_size, C],
    'wpe.weight': [n.n_positions, C],
    'ln_f.weight': [C],
    'ln_f.bias': [C],
  };
  for (let l = 0; l < n.n_layer; l++) {
    Object.assign(shapes, {
      [`h.${l}.ln_1.weight`]: [C],
      [`h.${l}.ln_1.bias`]: [C],
      [`h.${l}.attn.c_attn.weight`]: [C, 3 * C],
      [`h.${l}.attn.c_attn.bias`]: [3 * C],
      [`h.${l}.attn.c_proj.weight`]: [C, C],
      [`h.${l}.attn.c_proj.bias`]: [C],
      [`h.${l}.ln_2.weight`]: [C],
      [`h.${l}.ln_2.bias`]: [C],
      [`h.${l}.mlp.c_fc.weight`]: [C, 4 * C],
      [`h.${l}.mlp.c_fc.bias`]: [4 * C],
      [`h.${l}.mlp.c_proj.weight`]: [4 * C, C],
      [`h.${l}.mlp.c_proj.bias`]: [C],
    });
  }
  return shapes;
}

test("the safetensors names map one to one onto GPT-2's, with GPT-2's shapes", async () => {
  const out = join(dir, 'gpt2-check.safetensors');
  expect((await exportCli('--run', run, '--format', 'safetensors', '--out', out)).status).toBe(0);
  const { metadata, tensors } = parseSafetensors(new Uint8Array(await readFile(out)));
  expect(metadata.round).toBe('2');
  const config = JSON.parse(metadata.config!) as GptConfig;
  // README's config mapping.
  const want = gpt2Shapes({
    vocab_size: config.vocab,
    n_positions: config.context,
    n_embd: config.width,
    n_layer: config.layers,
  });
  const got = Object.fromEntries([...tensors].map(([name, t]) => [gpt2Name(name), t.shape]));
  expect(got).toEqual(want);
});

test('sample: seeded sampling is reproducible (also as a process), another seed differs, greedy ignores the seed', async () => {
  const argv = ['--run', run, '--prompt', 'The jury said', '--tokens', '12'];
  const first = spawnScript('scripts/sample.ts', ...argv, '--seed', '7');
  expect(first.status).toBe(0);
  expect(first.stderr).toBe(`sample: round 2 of ${run}, 12 new tokens, temperature 0.8, seed 7\n`);
  expect(first.stdout.startsWith('The jury said')).toBe(true);
  expect(first.stdout.length).toBeGreaterThan('The jury said\n'.length);
  expect((await sampleCli(...argv, '--seed', '7')).stdout).toBe(first.stdout);
  expect((await sampleCli(...argv, '--seed', '8')).stdout).not.toBe(first.stdout);
  const greedy = await sampleCli(...argv, '--temperature', '0', '--seed', '7');
  expect(greedy.stderr).toContain('greedy');
  expect((await sampleCli(...argv, '--temperature', '0', '--seed', '8')).stdout).toBe(greedy.stdout);
  // --round picks the weights: the initial ones continue differently.
  expect((await sampleCli(...argv, '--temperature', '0', '--round', '0')).stdout).not.toBe(greedy.stdout);
});

test('continueTokens adds the asked-for tokens and sees only the last context tokens', () => {
  const next = createRandom(9);
  const long = Uint32Array.from({ length: model.context + 5 }, () => Math.floor(next() * VOCAB));
  const settings = { tokens: 6, temperature: 0, seed: 1 };
  const added = continueTokens(layout, weights[2]!, long, settings);
  expect(added.length).toBe(6);
  expect(added.every((t) => t < VOCAB)).toBe(true);
  // Dropping the tokens before the last `context` changes nothing.
  expect(continueTokens(layout, weights[2]!, long.slice(-model.context), settings)).toEqual(added);
  expect(() => continueTokens(layout, weights[2]!, new Uint32Array(0), settings)).toThrow('the prompt has no tokens');
});

test('without checkpoints the initial weights are exported as round 0; --round 0 names them too', async () => {
  const fresh = join(dir, 'fresh');
  await mkdir(fresh);
  for (const name of ['run.json', 'weights.f32']) await cp(join(run, name), join(fresh, name));
  for (const [args, label] of [[[], 'latest'] as const, [['--round', '0'], 'round0'] as const]) {
    const out = join(dir, `fresh-${label}.safetensors`);
    const r = await exportCli('--run', fresh, '--format', 'safetensors', '--out', out, ...args);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('round 0 (the initial weights)');
    const wte = parseSafetensors(new Uint8Array(await readFile(out))).tensors.get('wte')!;
    expect(wte.data).toEqual(view(weights[0]!, layout.params.wte));
  }
  expect(await readdir(fresh)).toEqual(['run.json', 'weights.f32']);
});

test('a damaged checkpoint: --round names it, and without --round the newest good one is taken with a warning', async () => {
  const damaged = join(dir, 'damaged');
  await cp(run, damaged, { recursive: true });
  const weightsFile = join(damaged, 'checkpoints', 'round-000002', 'weights.f32');
  await writeFile(weightsFile, (await readFile(weightsFile)).subarray(0, 100)); // truncated
  const out = join(dir, 'damaged.onnx');
  await writeFile(out, 'the previous export');

  const named = await exportCli('--run', damaged, '--format', 'onnx', '--out', out, '--round', '2');
  expect(named.status).toBe(1);
  expect(named.stderr).toContain(`export: ${join(damaged, 'checkpoints', 'round-000002')} is damaged: vectors are not`);
  expect(await readFile(out, 'utf8')).toBe('the previous export');

  const latest = await exportCli('--run', damaged, '--format', 'onnx', '--out', out);
  expect(latest.status).toBe(0);
  expect(latest.stderr).toContain('export: warning: checkpoints/round-000002: vectors are not');
  expect(latest.stdout).toContain(`round 1 of ${damaged}`);
  expect(await readFile(out, 'utf8')).not.toBe('the previous export');
});

test('a missing or damaged run folder or round: a clear error naming the path, exit 1, no output file', async () => {
  const out = join(dir, 'never.onnx');
  const missing = join(dir, 'no-such-run');
  const cases: [string[], string][] = [
    [['--run', missing], `export: ${join(missing, 'run.json')} is missing (is ${missing} a run folder?)`],
    [
      ['--run', run, '--round', '5'],
      `${join(run, 'checkpoints', 'round-000005')} does not exist (checkpointed rounds: 2, 1)`,
    ],
    [['--run', run, '--round', 'two'], '--round must be an integer ≥ 0, got two'],
  ];
  const badJson = join(dir, 'bad-json');
  await mkdir(badJson);
  await writeFile(join(badJson, 'run.json'), '{"model": {"vocab": 3');
  cases.push([['--run', badJson], `${join(badJson, 'run.json')} is damaged:`]);
  const badModel = join(dir, 'bad-model');
  await mkdir(badModel);
  await writeFile(join(badModel, 'run.json'), JSON.stringify({ model: { ...model, heads: 3 } }));
  cases.push([
    ['--run', badModel],
    `${join(badModel, 'run.json')} is damaged: GPT config: heads (3) must divide width (8)`,
  ]);
  for (const [args, message] of cases) {
    const r = await exportCli('--format', 'onnx', '--out', out, ...args);
    expect(r.status, message).toBe(1);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe('');
  }
  await expect(stat(out)).rejects.toThrow('ENOENT');
  await expect(stat(missing)).rejects.toThrow('ENOENT'); // not created either
});

test('bad command lines are refused with the usage; --help prints it; --out may not point into the run folder', async () => {
  const out = join(dir, 'x.onnx');
  const cases: [string[], string][] = [
    [['--run', run, '--out', out], '--format is required'],
    [['--run', run, '--format', 'gguf', '--out', out], '--format must be one of onnx, safetensors, got gguf'],
    [['--run', run, '--format', 'onnx'], '--out is required'],
    [['--run', run, '--format', 'onnx', '--out', join(run, 'model.onnx')], 'is inside the run folder'],
    [['--run', run, '--format', 'onnx', '--out', out, '--bogus'], "Unknown option '--bogus'"],
  ];
  for (const [args, message] of cases) {
    const r = await exportCli(...args);
    expect(r.status, message).toBe(1);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('npm run export -- --run <dir> --format onnx|safetensors --out <file>');
  }
  const help = await exportCli('--help');
  expect(help.status).toBe(0);
  expect(help.stdout).toContain('--round <n>');

  const sampleCases: [string[], string][] = [
    [['--run', run], '--prompt is required'],
    [['--run', run, '--prompt', ''], '--prompt is empty'],
    [['--run', run, '--prompt', 'a', '--tokens', '0'], '--tokens must be an integer ≥ 1, got 0'],
    [['--run', run, '--prompt', 'a', '--temperature=-1'], '--temperature must be a number ≥ 0, got -1'],
  ];
  for (const [args, message] of sampleCases) {
    const r = await sampleCli(...args);
    expect(r.status, message).toBe(1);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('npm run sample -- --run <dir> --prompt <text>');
  }
  const noTokenizer = join(dir, 'no-tokenizer');
  await mkdir(noTokenizer);
  for (const name of ['run.json', 'weights.f32']) await cp(join(run, name), join(noTokenizer, name));
  const r = await sampleCli('--run', noTokenizer, '--prompt', 'a');
  expect(r.status).toBe(1);
  expect(r.stderr).toContain(`${join(noTokenizer, 'data', 'tokenizer.json')} is missing (the tokenizer)`);
  expect(await readdir(noTokenizer)).toEqual(['run.json', 'weights.f32']);
  expect(await readdir(run)).not.toContain('model.onnx');
});
