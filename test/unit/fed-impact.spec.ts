// Impact figures and credits (src/fed/impact.ts), grid schedules (src/fed/grid.ts) and the receipt
// a credited update gets (receiptEntry): what is computed from the assignment, what a volunteer's
// header may say, and the bounds on both.
import { expect, test } from '@playwright/test';
import { receiptEntry } from '../../src/fed/coordinator';
import type { RoundManifest } from '../../src/fed/documents';
import {
  GridScheduleError,
  gridSchedule,
  importGridFile,
  intensityAt,
  MAX_GRID_REGIONS,
  parseGridSchedule,
} from '../../src/fed/grid';
import {
  ADAPTER_POWER,
  adapterClassOf,
  creditsOf,
  estimateEnergy,
  gramsCO2,
  trainingFlops,
} from '../../src/fed/impact';
import { type GptConfig, nominalTrainFlops, paramLayout } from '../../src/model';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-12-01T00:00:00Z');

test('credits are the verified GFLOPs of the work; energy is busy time × the class power, with its range', () => {
  const model: GptConfig = { vocab: 1024, context: 128, layers: 2, heads: 2, width: 64 };
  const flops = trainingFlops(model, 64, 4096);
  expect(flops).toBe(nominalTrainFlops(paramLayout(model), 64, 4096));
  expect(creditsOf(flops)).toBeCloseTo(flops / 1e9, 12);
  // An hour of an integrated GPU: its watts as watt-hours, its range as the range.
  const p = ADAPTER_POWER.integrated;
  expect(estimateEnergy(3600, 'integrated')).toEqual({ wh: p.watts, lowWh: p.low, highWh: p.high });
  expect(estimateEnergy(-5, 'discrete')).toEqual({ wh: 0, lowWh: 0, highWh: 0 });
  for (const figure of Object.values(ADAPTER_POWER)) {
    expect(figure.low).toBeLessThanOrEqual(figure.watts);
    expect(figure.watts).toBeLessThanOrEqual(figure.high);
    expect(figure.source.length).toBeGreaterThan(20);
  }
  expect(gramsCO2(500, 400)).toBeCloseTo(200, 9); // 0.5 kWh at 400 g/kWh
});

test('adapter classes come from what the adapter says of itself; the rest is unknown', () => {
  expect(adapterClassOf({ isFallbackAdapter: true })).toBe('software');
  expect(adapterClassOf({ vendor: 'google', architecture: 'swiftshader' })).toBe('software');
  expect(adapterClassOf({ description: 'llvmpipe (LLVM 19.1.7, 256 bits)' })).toBe('software');
  expect(adapterClassOf({ vendor: 'intel', description: 'Intel(R) UHD Graphics 620' })).toBe('integrated');
  expect(adapterClassOf({ vendor: 'apple', architecture: 'metal-3' })).toBe('integrated');
  expect(adapterClassOf({ vendor: 'nvidia', description: 'NVIDIA GeForce RTX 3060' })).toBe('discrete');
  expect(adapterClassOf({ vendor: 'nvidia', architecture: 'ampere' })).toBe('unknown');
  expect(adapterClassOf({})).toBe('unknown');
});

const CSV = [
  'Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),Carbon Intensity gCO₂eq/kWh (life cycle assessment),Low Carbon Percentage',
  '2026-12-01 00:00:00,Germany,Germany,DE,300,350,40',
  '2026-12-01 01:00:00,Germany,Germany,DE,200,250,55',
  '2026-12-01 00:00:00,France,France,FR,20,40,95',
].join('\n');

test('Electricity Maps CSV and JSON, and WattTime JSON, import into hourly points by region', () => {
  const csv = importGridFile('de-fr.csv', CSV);
  // The life-cycle column, as Electricity Maps' API defaults to it.
  expect(csv).toEqual({
    DE: [
      { start: T0, gCO2PerKWh: 350 },
      { start: T0 + HOUR, gCO2PerKWh: 250 },
    ],
    FR: [{ start: T0, gCO2PerKWh: 40 }],
  });
  const directOnly = CSV.split('\n')
    .map((l) => l.split(',').slice(0, 5).join(','))
    .join('\n');
  expect(importGridFile('direct.csv', directOnly).DE?.[0]?.gCO2PerKWh).toBe(300);

  const em = { zone: 'GB', history: [{ datetime: '2026-12-01T00:00:00.000Z', carbonIntensity: 180 }] };
  expect(importGridFile('gb.json', JSON.stringify(em))).toEqual({ GB: [{ start: T0, gCO2PerKWh: 180 }] });
  const forecast = { zone: 'GB', forecast: [{ datetime: '2026-12-01T01:00:00Z', carbonIntensity: 150 }] };
  expect(importGridFile('gb-forecast.json', JSON.stringify(forecast)).GB).toEqual([
    { start: T0 + HOUR, gCO2PerKWh: 150 },
  ]);
  // WattTime's marginal rate in lbs/MWh: 1,000 lbs/MWh is 453.592 g/kWh.
  const wt = {
    meta: { region: 'CAISO_NORTH', signal_type: 'co2_moer', units: 'lbs_co2_per_mwh' },
    data: [{ point_time: '2026-12-01T00:00:00+00:00', value: 1000 }],
  };
  const [point] = importGridFile('caiso.json', JSON.stringify(wt)).CAISO_NORTH!;
  expect(point!.start).toBe(T0);
  expect(point!.gCO2PerKWh).toBeCloseTo(453.592, 9);
});

test('a grid file that is none of these, or holds a bad line, is refused naming the file and line', () => {
  expect(() => importGridFile('notes.csv', 'time,zone,value\n1,2,3')).toThrow(
    /^notes\.csv line 1: not an Electricity Maps CSV/,
  );
  const badValue = `${CSV}\n2026-12-01 02:00:00,Germany,Germany,DE,x,,40`;
  expect(() => importGridFile('bad.csv', badValue)).toThrow(/^bad\.csv line 5: no intensity in \[0, 2000\]/);
  const badTime = CSV.replace('2026-12-01 01:00:00', 'yesterday');
  expect(() => importGridFile('time.csv', badTime)).toThrow(/^time\.csv line 3: no readable time/);
  expect(() => importGridFile('huge.csv', CSV.replace('350', '99999'))).toThrow(/line 2: no intensity/);
  expect(() => importGridFile('x.json', '{"zone": 3}')).toThrow(/^x\.json: neither Electricity Maps/);
  expect(() => importGridFile('y.json', '{"meta": {"region": "R", "units": "kg"}, "data": []}')).toThrow(
    /^y\.json: unknown units "kg"/,
  );
  expect(() => importGridFile('z.json', '{"zone": ')).toThrow(/^z\.json: not JSON/);
});

test('intensityAt finds the hour holding a time; outside the schedule or region there is none', () => {
  const schedule = gridSchedule([{ name: 'de-fr.csv', regions: importGridFile('de-fr.csv', CSV) }]);
  expect(schedule.source).toBe('de-fr.csv');
  expect(intensityAt(schedule, 'DE', T0)).toBe(350);
  expect(intensityAt(schedule, 'DE', T0 + HOUR - 1)).toBe(350);
  expect(intensityAt(schedule, 'DE', T0 + HOUR + 10)).toBe(250);
  expect(intensityAt(schedule, 'DE', T0 + 2 * HOUR)).toBeUndefined();
  expect(intensityAt(schedule, 'DE', T0 - 1)).toBeUndefined();
  expect(intensityAt(schedule, 'ES', T0)).toBeUndefined();
});

test("a tab believes a /grid.json only within bounds (a hostile seed's document is refused)", () => {
  const good = gridSchedule([{ name: 'de-fr.csv', regions: importGridFile('de-fr.csv', CSV) }]);
  expect(parseGridSchedule(JSON.parse(JSON.stringify(good)))).toEqual(good);
  const refuse = (doc: unknown, why: RegExp) => {
    expect(() => parseGridSchedule(doc)).toThrow(GridScheduleError);
    expect(() => parseGridSchedule(doc)).toThrow(why);
  };
  refuse({ ...good, kind: 'other' }, /unknown kind/);
  refuse({ ...good, regions: { 'DE; rm -rf': [] } }, /bad region name/);
  refuse({ ...good, regions: { DE: [{ start: T0, gCO2PerKWh: -1 }] } }, /intensity in \[0, 2000\]/);
  refuse({ ...good, regions: { DE: [{ start: 'soon', gCO2PerKWh: 1 }] } }, /without a start time/);
  const many = Object.fromEntries(Array.from({ length: MAX_GRID_REGIONS + 1 }, (_, i) => [`R${i}`, []]));
  refuse({ ...good, regions: many }, /over 512 regions/);
});

test('a receipt credits the assignment; impact comes from the header within bounds, gCO₂ from the schedule', () => {
  const model: GptConfig = { vocab: 64, context: 16, layers: 1, heads: 2, width: 16 };
  const manifest = {
    round: 3,
    hyper: { steps: 4, batchSize: 2, context: 16, lr: 1e-3, weightDecay: 0, dataSeed: 1 },
    assignments: { alice: 0 },
  } as unknown as RoundManifest;
  const body = { update: 'ab'.repeat(32), bytes: 100, at: T0 + 10 };
  const plain = receiptEntry(manifest, model, 'alice', body, undefined);
  expect(plain).toEqual({ round: 3, peer: 'alice', tokens: 128, flops: trainingFlops(model, 16, 128), ...body });
  // A peer not assigned is credited nothing, whatever it sends.
  expect(receiptEntry(manifest, model, 'mallory', body, { gpuSeconds: 10 })).toMatchObject({ tokens: 0, flops: 0 });
  const schedule = gridSchedule([{ name: 'de-fr.csv', regions: importGridFile('de-fr.csv', CSV) }]);
  const withImpact = receiptEntry(
    manifest,
    model,
    'alice',
    body,
    { gpuSeconds: 36, adapter: 'discrete', region: 'DE' },
    (region, at) => intensityAt(schedule, region, at),
  );
  const wh = (ADAPTER_POWER.discrete.watts * 36) / 3600;
  expect(withImpact).toMatchObject({ gpuSeconds: 36, adapter: 'discrete', estimatedWh: wh, gCO2: (wh / 1000) * 350 });
  // No class given: the unknown class's figure; a region outside the schedule: no gCO₂.
  const unknown = receiptEntry(manifest, model, 'alice', body, { gpuSeconds: 36, region: 'ES' }, () => undefined);
  expect(unknown).toMatchObject({ adapter: 'unknown', estimatedWh: (ADAPTER_POWER.unknown.watts * 36) / 3600 });
  expect(unknown).not.toHaveProperty('gCO2');
});
