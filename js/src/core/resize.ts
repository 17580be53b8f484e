/**
 * Tell the page when a view changes width. Plotly's own widgets beside a view (the dashboard's charts) re-measure
 * their slot only on a window "resize" event, so when the dashboard's row wraps (the charts move under the view) or
 * the view first takes its width, they would keep the width they had before: a gap, or a cut chart.
 */
import type { Scope } from "./scope";

/** Settle time before the event: a wrap changes widths a few times in a row. */
const SETTLE_MS = 100;

/** Dispatch a window "resize" event (once widths have settled) whenever `el` changes width, until `scope` ends. */
export function announceResizes(scope: Scope, el: HTMLElement): void {
  if (typeof ResizeObserver !== "function") return;
  let width = -1;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const observer = new ResizeObserver((entries) => {
    const next = Math.round(entries[entries.length - 1].contentRect.width);
    if (next === width) return;
    width = next;
    clearTimeout(timer);
    timer = setTimeout(() => window.dispatchEvent(new Event("resize")), SETTLE_MS);
  });
  observer.observe(el);
  scope.add(() => {
    observer.disconnect();
    clearTimeout(timer);
  });
}
