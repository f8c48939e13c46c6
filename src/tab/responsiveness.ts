// The page's own effect on the machine while it trains (issue 19): long tasks on the main thread
// (PerformanceObserver 'longtask': 50 ms or more without a break, which delays every click and
// frame) and dropped frames while the tab is visible (gaps between requestAnimationFrame callbacks
// longer than a frame of a 60 Hz screen). Counted only while the tab trains; the frame loop runs
// only then, so an idle page draws nothing. Totals go to the page once a second at most.

/** What the page measured of itself while training, all counts since the page loaded. */
export interface ResponsivenessView {
  /** Time measured: the tab was training (and visible, for the frames). */
  measuredMs: number;
  /** False where the browser reports no long tasks (the counts are then zero, not measured). */
  longTasksObserved: boolean;
  longTasks: number;
  longTaskMs: number;
  longestTaskMs: number;
  /** Frames drawn, frames dropped (a gap of n 60 Hz frames drops n − 1), and the longest gap. */
  frames: number;
  droppedFrames: number;
  worstFrameMs: number;
}

export interface ResponsivenessMonitor {
  /** Measures from now while `active` (the tab trains), stops measuring otherwise. */
  setActive(active: boolean): void;
}

/** How often the totals are reported at most. */
const REPORT_MS = 1_000;
/** A frame of a 60 Hz screen, the common rate; a faster screen's drops are counted at this rate too. */
const FRAME_MS = 1000 / 60;

export function monitorResponsiveness(onChange: (view: ResponsivenessView) => void): ResponsivenessMonitor {
  const view: ResponsivenessView = {
    measuredMs: 0,
    longTasksObserved: false,
    longTasks: 0,
    longTaskMs: 0,
    longestTaskMs: 0,
    frames: 0,
    droppedFrames: 0,
    worstFrameMs: 0,
  };
  let active = false;
  let activeSince = 0;
  let lastFrame: number | undefined;
  let frame = 0;
  let reportDue = false;

  const report = () => {
    if (reportDue) return;
    reportDue = true;
    setTimeout(() => {
      reportDue = false;
      if (active) {
        const now = performance.now();
        view.measuredMs += now - activeSince;
        activeSince = now;
      }
      onChange({ ...view });
    }, REPORT_MS);
  };

  if (PerformanceObserver.supportedEntryTypes?.includes('longtask')) {
    view.longTasksObserved = true;
    new PerformanceObserver((list) => {
      if (!active) return;
      for (const task of list.getEntries()) {
        view.longTasks++;
        view.longTaskMs += task.duration;
        view.longestTaskMs = Math.max(view.longestTaskMs, task.duration);
      }
      report();
    }).observe({ type: 'longtask' });
  }

  const onFrame = (t: number) => {
    frame = requestAnimationFrame(onFrame);
    if (lastFrame !== undefined) {
      const gap = t - lastFrame;
      view.frames++;
      view.droppedFrames += Math.max(0, Math.round(gap / FRAME_MS) - 1);
      view.worstFrameMs = Math.max(view.worstFrameMs, gap);
      report();
    }
    lastFrame = t;
  };
  // A hidden tab draws no frames: the gap across it is no drop.
  document.addEventListener('visibilitychange', () => {
    lastFrame = undefined;
  });

  return {
    setActive(next) {
      if (next === active) return;
      if (next) {
        activeSince = performance.now();
        lastFrame = undefined;
        frame = requestAnimationFrame(onFrame);
      } else {
        view.measuredMs += performance.now() - activeSince;
        cancelAnimationFrame(frame);
        report();
      }
      active = next;
    },
  };
}
