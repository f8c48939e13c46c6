// A grid carbon-intensity schedule the researcher publishes with the run (issue 19): gCO₂/kWh per
// hour and region, imported from what Electricity Maps and WattTime export, served by the seed at
// /grid.json, and read by tabs that contribute "only when the grid is below X". Nothing is fetched
// from third parties at run time: the file is the researcher's. A tab checks the document against
// the bounds below before it believes any of it (a seed may be hostile).

/** One hour of a region's grid. */
export interface GridPoint {
  /** Start of the hour, ms since the epoch (UTC). */
  start: number;
  gCO2PerKWh: number;
}

/** /grid.json. */
export interface GridSchedule {
  kind: 'vgpu/grid';
  version: 1;
  /** What it was imported from (file names and formats), for the page. */
  source: string;
  /** Region (Electricity Maps' zone id, WattTime's region) to its hours, oldest first. */
  regions: Record<string, GridPoint[]>;
}

/** Each point covers the hour from its start (both sources publish hourly data). */
export const GRID_POINT_MS = 3_600_000;
/** Regions in a schedule: a run's volunteers come from a few, the world has some 300 zones. */
export const MAX_GRID_REGIONS = 512;
/** Points over all regions: a year of hours for 20 regions, about 4 MB of JSON. */
export const MAX_GRID_POINTS = 200_000;
/** The largest /grid.json a tab reads, and the largest file the seed imports. */
export const MAX_GRID_BYTES = 16 * 1024 * 1024;
/** Intensities past this are nonsense (the dirtiest grids run near 1,000 g; lignite alone ~1,200). */
export const MAX_GCO2_PER_KWH = 2_000;
/** A region id: Electricity Maps' zone keys (DE, US-CAL-CISO) and WattTime's regions (CAISO_NORTH). */
const REGION = /^[A-Za-z0-9_-]{1,64}$/;
/** WattTime reports marginal rates in lbs/MWh: 453.592 g per lb, 1,000 kWh per MWh. */
const G_PER_KWH_PER_LBS_PER_MWH = 0.453592;

export class GridScheduleError extends Error {
  override name = 'GridScheduleError';
}

const fail = (why: string): never => {
  throw new GridScheduleError(why);
};

/** Checks a /grid.json document against the bounds; returns it with its points sorted. */
export function parseGridSchedule(value: unknown): GridSchedule {
  const s = value as Partial<GridSchedule> | null;
  if (typeof s !== 'object' || s === null || s.kind !== 'vgpu/grid' || s.version !== 1)
    fail('grid schedule: unknown kind/version');
  const doc = s as GridSchedule;
  if (typeof doc.source !== 'string' || doc.source.length > 1024) fail('grid schedule: source must be a short string');
  if (typeof doc.regions !== 'object' || doc.regions === null) fail('grid schedule: regions must be an object');
  const names = Object.keys(doc.regions);
  if (names.length > MAX_GRID_REGIONS) fail(`grid schedule: over ${MAX_GRID_REGIONS} regions`);
  let points = 0;
  const regions: Record<string, GridPoint[]> = {};
  for (const name of names) {
    if (!REGION.test(name)) fail(`grid schedule: bad region name ${JSON.stringify(name.slice(0, 80))}`);
    const list: unknown = doc.regions[name];
    if (!Array.isArray(list)) return fail(`grid schedule: region ${name} must be a list of hours`);
    points += list.length;
    if (points > MAX_GRID_POINTS) fail(`grid schedule: over ${MAX_GRID_POINTS} points`);
    regions[name] = list.map((p) => checkPoint(p, name)).sort((a, b) => a.start - b.start);
  }
  return { kind: 'vgpu/grid', version: 1, source: doc.source, regions };
}

function checkPoint(p: unknown, region: string): GridPoint {
  const { start, gCO2PerKWh } = (p ?? {}) as Partial<GridPoint>;
  if (
    !Number.isSafeInteger(start) ||
    !(typeof gCO2PerKWh === 'number' && gCO2PerKWh >= 0 && gCO2PerKWh <= MAX_GCO2_PER_KWH)
  )
    fail(
      `grid schedule: region ${region} has a point without a start time or an intensity in [0, ${MAX_GCO2_PER_KWH}]`,
    );
  return { start: start as number, gCO2PerKWh: gCO2PerKWh as number };
}

/** The region's intensity in the hour holding `at`, or undefined outside the schedule. */
export function intensityAt(schedule: GridSchedule, region: string, at: number): number | undefined {
  const points = schedule.regions[region];
  if (!points) return undefined;
  // The last point starting at or before `at` (binary search over the sorted hours).
  let [lo, hi] = [0, points.length];
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid]!.start <= at) lo = mid + 1;
    else hi = mid;
  }
  const p = points[lo - 1];
  return p && at < p.start + GRID_POINT_MS ? p.gCO2PerKWh : undefined;
}

/**
 * Imports one export file into the regions it holds, from its text and name:
 * - Electricity Maps' data portal CSV (columns `Datetime (UTC)`, `Zone Id`, and `Carbon Intensity
 *   gCO₂eq/kWh (life cycle assessment)` or `(direct)`; the life-cycle figure when both are there,
 *   as Electricity Maps' API defaults to it);
 * - Electricity Maps' API JSON (`/v3/carbon-intensity/history` or `/forecast`: `{zone, history|forecast:
 *   [{datetime, carbonIntensity}]}`);
 * - WattTime's API JSON (`/v3/historical` or `/v3/forecast`: `{meta: {region, units}, data:
 *   [{point_time, value}]}`, in lbs/MWh or g/kWh).
 * Throws a GridScheduleError naming the file (and the line, for a CSV) when it is none of these.
 */
export function importGridFile(name: string, text: string): Record<string, GridPoint[]> {
  if (text.length > MAX_GRID_BYTES) fail(`${name}: over ${MAX_GRID_BYTES} bytes`);
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      return fail(`${name}: not JSON (${(e as Error).message})`);
    }
    return importGridJson(name, json);
  }
  return importElectricityMapsCsv(name, text);
}

function point(name: string, where: string, time: unknown, value: unknown, scale = 1): GridPoint {
  const start =
    typeof time === 'string' ? Date.parse(time.includes('T') || time.includes('Z') ? time : `${time}Z`) : NaN;
  const g = Number(value) * scale;
  if (!Number.isFinite(start)) fail(`${name} ${where}: no readable time (${JSON.stringify(time)})`);
  if (value === null || value === '' || !(g >= 0 && g <= MAX_GCO2_PER_KWH))
    fail(`${name} ${where}: no intensity in [0, ${MAX_GCO2_PER_KWH}] gCO₂/kWh (${JSON.stringify(value)})`);
  return { start, gCO2PerKWh: g };
}

function importGridJson(name: string, json: unknown): Record<string, GridPoint[]> {
  const o = (json ?? {}) as Record<string, unknown>;
  // Electricity Maps' API
  const series = (o.history ?? o.forecast) as unknown;
  if (typeof o.zone === 'string' && Array.isArray(series))
    return {
      [o.zone]: series.map((p: Record<string, unknown>, i) => point(name, `item ${i}`, p.datetime, p.carbonIntensity)),
    };
  // WattTime's API
  const meta = o.meta as Record<string, unknown> | undefined;
  if (meta && typeof meta.region === 'string' && Array.isArray(o.data)) {
    const units = String(meta.units ?? '');
    const scale = /lbs?_co2_per_mwh/i.test(units)
      ? G_PER_KWH_PER_LBS_PER_MWH
      : /g_co2_per_kwh/i.test(units)
        ? 1
        : fail(`${name}: unknown units ${JSON.stringify(units)} (lbs_co2_per_mwh or g_co2_per_kwh)`);
    return {
      [meta.region]: o.data.map((p: Record<string, unknown>, i) =>
        point(name, `item ${i}`, p.point_time, p.value, scale),
      ),
    };
  }
  return fail(`${name}: neither Electricity Maps' {zone, history|forecast} nor WattTime's {meta: {region}, data}`);
}

/** Splits one CSV line (quoted fields may hold commas and doubled quotes). */
function csvFields(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else field += c;
  }
  fields.push(field);
  return fields.map((f) => f.trim());
}

function importElectricityMapsCsv(name: string, text: string): Record<string, GridPoint[]> {
  const lines = text.split(/\r?\n/);
  const header = csvFields(lines[0] ?? '');
  const column = (test: RegExp) => header.findIndex((h) => test.test(h));
  const time = column(/^Datetime \(UTC\)$/i);
  const zone = column(/^Zone Id$/i);
  const lca = column(/^Carbon Intensity gCO.?.?eq\/kWh \(life ?cycle/i);
  const direct = column(/^Carbon Intensity gCO.?.?eq\/kWh \(direct\)$/i);
  const intensity = lca >= 0 ? lca : direct;
  if (time < 0 || zone < 0 || intensity < 0)
    fail(
      `${name} line 1: not an Electricity Maps CSV (it needs the columns "Datetime (UTC)", "Zone Id" and "Carbon Intensity gCO₂eq/kWh (life cycle assessment)" or "(direct)"), nor JSON`,
    );
  const regions: Record<string, GridPoint[]> = {};
  for (const [i, line] of lines.entries()) {
    if (i === 0 || line.trim() === '') continue;
    const f = csvFields(line);
    const region = f[zone] ?? '';
    if (!REGION.test(region)) fail(`${name} line ${i + 1}: bad zone id ${JSON.stringify(region.slice(0, 80))}`);
    const hours = regions[region] ?? [];
    hours.push(point(name, `line ${i + 1}`, f[time], f[intensity]));
    regions[region] = hours;
  }
  return regions;
}

/** A schedule from imported files' regions (a region in two files keeps both files' hours). */
export function gridSchedule(files: { name: string; regions: Record<string, GridPoint[]> }[]): GridSchedule {
  const regions: Record<string, GridPoint[]> = {};
  for (const f of files)
    for (const [r, points] of Object.entries(f.regions)) regions[r] = [...(regions[r] ?? []), ...points];
  return parseGridSchedule({
    kind: 'vgpu/grid',
    version: 1,
    source: files.map((f) => f.name).join(', '),
    regions,
  });
}
