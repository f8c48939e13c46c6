// Logging what strangers do without letting them write the log: per key (a peer), at most one line
// per interval; the lines held back are counted into the next one.
import { type Clock, systemClock } from './clock';

/** Keys remembered at most; the oldest are forgotten first. */
const MAX_KEYS = 4_096;

/** A logger that writes at most one line per `key` every `intervalMs`. */
export function throttledLog(
  log: (line: string) => void,
  intervalMs: number,
  clock: Clock = systemClock,
): (key: string, line: string) => void {
  const last = new Map<string, { at: number; held: number }>();
  return (key, line) => {
    const now = clock.now();
    const seen = last.get(key);
    if (seen && now - seen.at < intervalMs) {
      seen.held++;
      return;
    }
    last.delete(key);
    if (last.size >= MAX_KEYS) last.delete(last.keys().next().value as string);
    last.set(key, { at: now, held: 0 });
    log(seen?.held ? `${line} (and ${seen.held} more like it since the last such line)` : line);
  };
}
