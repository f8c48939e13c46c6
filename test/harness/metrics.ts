// GET /metrics from a seed or a helper, as Prometheus scrapes it: its content type, and its samples by
// `name{labels}`.
import { expect } from '@playwright/test';

export async function scrapeMetrics(
  base: string,
  logs: string[] = [],
): Promise<{ type: string | null; samples: Map<string, number> }> {
  const res = await fetch(new URL('/metrics', base));
  expect(res.status, res.status === 200 ? '' : `${await res.text()}\n${logs.join('\n')}`).toBe(200);
  const lines = (await res.text()).split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  return {
    type: res.headers.get('content-type'),
    samples: new Map(lines.map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))])),
  };
}
