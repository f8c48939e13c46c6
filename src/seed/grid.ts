// The run's grid carbon-intensity schedule (--grid, issue 19): the researcher's exports from
// Electricity Maps or WattTime, read and checked at start (src/fed/grid.ts), served at /grid.json and
// used for the gCO₂ figure of each receipt. Nothing is fetched from third parties.
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { type GridSchedule, gridSchedule, importGridFile, MAX_GRID_BYTES } from '../fed';

/** The schedule the files make together, or undefined without files; throws naming a bad file. */
export async function loadGridSchedule(files: readonly string[]): Promise<GridSchedule | undefined> {
  if (files.length === 0) return undefined;
  const imported = [];
  for (const file of files) {
    const size = (await stat(file)).size;
    if (size > MAX_GRID_BYTES) throw new Error(`--grid ${file}: over ${MAX_GRID_BYTES} bytes`);
    const text = await readFile(file, 'utf8');
    imported.push({ name: basename(file), regions: importGridFile(file, text) });
  }
  return gridSchedule(imported);
}
