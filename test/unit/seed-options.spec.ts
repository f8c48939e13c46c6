// The seed's command line (src/seed/options.ts): the model's shape flags over a preset, the
// training sequence length, and a run config file (--config) whose options the flags override.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { DEFAULT_FED_SETTINGS } from '../../src/fed/coordinator';
import { modelPreset } from '../../src/model';
import { parseSeedCommand, type SeedCommand } from '../../src/seed/options';

let dir: string;
test.beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vgpu-seed-options-'));
});
test.afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function seedOptions(command: SeedCommand) {
  if (command.kind !== 'seed') throw new Error(`expected a seed, got ${command.kind}`);
  return command.options;
}

test("no model flag keeps the run folder's model; --model and the shape flags make one; --seq-len fits the context", () => {
  const plain = seedOptions(parseSeedCommand([]));
  expect(plain.model).toBeUndefined();
  expect(plain.data).toBeUndefined();
  expect(plain.fed?.hyper?.context).toBe(DEFAULT_FED_SETTINGS.hyper.context);

  const shaped = seedOptions(
    parseSeedCommand(['--model', 'small', '--layers', '6', '--vocab', '2048', '--data', 'c.txt']),
  );
  expect(shaped.model).toEqual({ ...modelPreset('small'), layers: 6, vocab: 2048 });
  expect(shaped.data).toBe('c.txt');
  // A context shorter than the default sequence: the sequence follows it, unless given.
  expect(seedOptions(parseSeedCommand(['--context', '32'])).fed?.hyper?.context).toBe(32);
  expect(seedOptions(parseSeedCommand(['--context', '32', '--seq-len', '16'])).fed?.hyper?.context).toBe(16);
  expect(() => parseSeedCommand(['--width=-3'])).toThrow('--width must be a positive integer, got -3');
  expect(() => parseSeedCommand(['--heads', '1.5'])).toThrow('--heads must be a positive integer, got 1.5');
});

test('a run config holds any option by name; its paths are relative to it; flags override it', async () => {
  const config = join(dir, 'run.json');
  await writeFile(
    config,
    JSON.stringify({
      data: 'corpus/',
      run: 'runs/mine',
      layers: 3,
      codec: 'int8',
      'round-seconds': 30,
      turn: 'turn:t:3478',
    }),
  );
  const options = seedOptions(parseSeedCommand(['--config', config]));
  expect(options.data).toBe(join(dir, 'corpus'));
  expect(options.runDir).toBe(join(dir, 'runs/mine'));
  expect(options.model).toEqual({ ...modelPreset('tiny'), layers: 3 });
  expect(options.fed?.codec?.format).toBe('int8');
  expect(options.fed?.roundMs).toBe(30_000);
  expect(options.ice?.turn).toEqual(['turn:t:3478']);
  const overridden = seedOptions(parseSeedCommand(['--config', config, '--codec', 'int4', '--data', 'other.txt']));
  expect(overridden.fed?.codec?.format).toBe('int4');
  expect(overridden.data).toBe('other.txt');
});

test('a run config with an unknown option, a wrong type, or no JSON object is refused, naming the file', async () => {
  const write = async (name: string, body: string) => {
    const path = join(dir, name);
    await writeFile(path, body);
    return path;
  };
  const unknown = await write('unknown.json', '{"layerz": 3}');
  expect(() => parseSeedCommand(['--config', unknown])).toThrow(`run config ${unknown}: unknown option "layerz"`);
  const nested = await write('nested.json', '{"config": "other.json"}');
  expect(() => parseSeedCommand(['--config', nested])).toThrow(`run config ${nested}: unknown option "config"`);
  const wrongType = await write('type.json', '{"layers": [3]}');
  expect(() => parseSeedCommand(['--config', wrongType])).toThrow(
    `run config ${wrongType}: "layers" must be a string or a number`,
  );
  const array = await write('array.json', '[1, 2]');
  expect(() => parseSeedCommand(['--config', array])).toThrow(`run config ${array}: not a JSON object of options`);
  const broken = await write('broken.json', '{"layers": ');
  expect(() => parseSeedCommand(['--config', broken])).toThrow(new RegExp(`^run config ${broken}: `));
  expect(() => parseSeedCommand(['--config', join(dir, 'missing.json')])).toThrow(/ENOENT/);
});
