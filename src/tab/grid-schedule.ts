// The run's grid carbon-intensity schedule, as a tab reads it: /grid.json from the run's root seed,
// at most MAX_GRID_BYTES and checked against the schedule's bounds (fed/grid.ts) before any of it is
// believed, since a seed may be hostile. A 404 means the run publishes none: the page then hides the
// grid option. Nothing is asked of anyone but the seed.
import { type GridSchedule, MAX_GRID_BYTES, parseGridSchedule } from '../fed';
import { fetchJsonAtMostIfAny } from '../util/read-at-most';

/** The run's schedule, or undefined when the seed has none; throws when it cannot be read or is out of bounds. */
export async function fetchGridSchedule(root: string, signal?: AbortSignal): Promise<GridSchedule | undefined> {
  const body = await fetchJsonAtMostIfAny(new URL('/grid.json', root), MAX_GRID_BYTES, { signal });
  return body === undefined ? undefined : parseGridSchedule(body);
}
