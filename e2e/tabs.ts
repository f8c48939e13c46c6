// Shared by the end-to-end tests and the swarm benchmark: open volunteer tabs (each in its own
// browser context, so each has its own IndexedDB and peer key) and read their state.
import type { Browser, BrowserContextOptions, Page } from '@playwright/test';
import type { DownloadView, TabState } from '../src/tab';

/** The volunteer page (or a test page using the same code) pointed at a seed. */
export function tabUrl(base: string, seedUrl: string, page = '/'): string {
  return `${base}${page}?seed=${encodeURIComponent(seedUrl)}`;
}

/** What went wrong in each tab's page (errors, failed requests), for the message of a wait that timed out. */
const troubles = new WeakMap<Page, string[]>();
/** The last few troubles of a page are kept. */
const TROUBLES_KEPT = 12;

/** Opens `url` in a new browser context (made with `context`, e.g. its time zone); `before` runs before the page loads. */
export async function openTab(
  browser: Browser,
  url: string,
  log?: (line: string) => void,
  { context, before }: { context?: BrowserContextOptions; before?(page: Page): Promise<void> } = {},
): Promise<Page> {
  const page = await (await browser.newContext(context)).newPage();
  await before?.(page);
  const seen: string[] = [];
  troubles.set(page, seen);
  const trouble = (line: string) => {
    log?.(line);
    seen.push(line);
    if (seen.length > TROUBLES_KEPT) seen.shift();
  };
  page.on('pageerror', (e) => trouble(`[page error] ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') trouble(`[console ${m.type()}] ${m.text()}`);
  });
  page.on('requestfailed', (r) => {
    const error = r.failure()?.errorText;
    // The page's own cancellations (a poll or a download given up) are not trouble.
    if (error !== 'net::ERR_ABORTED') trouble(`[request failed] ${r.url()}: ${error}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 500) trouble(`[${r.status()}] ${r.url()}`);
  });
  // 'commit': with several tabs loading at once on a small machine, 'load' can take long; the
  // state function below is what the callers wait for.
  await page.goto(url, { waitUntil: 'commit' });
  return page;
}

/** The tab's state, or undefined while its page is still starting. */
export function tabState(page: Page): Promise<TabState | undefined> {
  return page.evaluate(() => window.vgpuState?.());
}

/** Polls every tab until `done` holds for all of them; returns their last states. */
export async function waitForTabs(
  pages: Page[],
  done: (s: TabState) => boolean,
  timeoutMs: number,
): Promise<TabState[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = await Promise.all(pages.map(tabState));
    if (states.every((s) => s && done(s))) return states as TabState[];
    if (Date.now() > deadline) {
      const summary = states.map(
        (s, i) =>
          `tab ${i}: ${s ? `${s.phase}, ${s.downloads.map((d) => `${d.held}/${d.total}`).join(' ')}, training ${s.training.status}${s.training.reason ? ` (${s.training.reason})` : ''}${s.pausedBecause ? `, paused: ${s.pausedBecause}` : ''}, ${s.warnings.slice(-2).join('; ')}` : 'not started'}${(troubles.get(pages[i]!) ?? []).map((t) => `\n  ${t}`).join('')}`,
      );
      throw new Error(`tabs not done after ${timeoutMs} ms:\n${summary.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Polls one tab until `done` holds; returns its last state. */
export async function waitForTab(page: Page, done: (s: TabState) => boolean, timeoutMs: number): Promise<TabState> {
  const [state] = await waitForTabs([page], done, timeoutMs);
  return state!;
}

/** The weights download the tab started first (the seed's current model). */
export function firstDownload(s: TabState): DownloadView {
  const d = s.downloads[0];
  if (!d) throw new Error('the tab has no download');
  return d;
}

/** A tab is done when every manifest it was offered is downloaded and verified. */
export const downloaded = (s: TabState): boolean =>
  s.phase === 'ready' && s.downloads.length > 0 && s.downloads.every((d) => d.done);

/** How long a page's script may take to start (Vite serves and transforms its modules on first load). */
const PAGE_START_TIMEOUT_MS = 120_000;

/** Sets the GPU duty cycle and presses Start, once the page's script is running. */
export async function startContributing(page: Page, dutyCycle = 1): Promise<void> {
  await waitForTab(page, () => true, PAGE_START_TIMEOUT_MS);
  await page.selectOption('#duty', String(dutyCycle));
  await page.click('#start');
  await page.waitForFunction(() => window.vgpuState!().settings.running);
}
