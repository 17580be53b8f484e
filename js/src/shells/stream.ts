/**
 * The job bar every view ends with: its action buttons (Run / Start, Resume, Reset: those the view asks for),
 * Stop, the progress track, and the status line on a row of its own so that it never wraps in a narrow column.
 */
import type { AnyModel } from "@anywidget/types";
import { h } from "../core/dom";
import { send } from "../core/requests";
import type { Scope } from "../core/scope";
import type { ViewTraits } from "../core/traits";

export interface RunBarOptions {
  /** Label of the button that sends {type: "run"}; none: the view runs by itself (saliency). */
  run?: string;
  resume?: boolean;
  reset?: boolean;
  /** Whether Resume / Reset apply now (e.g. only after a first step); called whenever `busy` or `watch` change. */
  started?: () => boolean;
  watch?: string[];
}

export function runBar(scope: Scope, model: AnyModel<ViewTraits>, opts: RunBarOptions = {}): HTMLElement {
  const button = (cls: string, label: string, request: "run" | "resume" | "reset" | "stop", title = "") =>
    h("button", { class: `cnnviz-${cls}`, title, onclick: () => send(model, { type: request }) }, label);
  const run = opts.run ? button("run cnnviz-primary", opts.run, "run") : null;
  const resume = opts.resume ? button("resume", "Resume", "resume", "go on from where the last run ended") : null;
  const reset = opts.reset ? button("reset", "Reset", "reset", "forget the last run") : null;
  const stop = button("stop", "Stop", "stop");
  const fill = h("div", { class: "cnnviz-progress-fill" });
  const track = h("div", { class: "cnnviz-progress-track", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100 }, fill);
  const status = h("div", { class: "cnnviz-status", "aria-live": "polite" });
  const buttons = [run, resume, reset, stop].filter((b): b is HTMLButtonElement => b !== null);
  const el = h("div", { class: "cnnviz-runbar" }, h("div", { class: "cnnviz-runbar-row" }, ...buttons, track), status);

  const update = () => {
    const busy = Boolean(model.get("busy"));
    const pct = Math.round(100 * Number(model.get("progress") ?? 0));
    fill.style.width = `${pct}%`;
    track.setAttribute("aria-valuenow", String(pct));
    el.classList.toggle("cnnviz-busy", busy);
    stop.disabled = !busy;
    const started = opts.started ? opts.started() : true;
    if (resume) resume.disabled = busy || !started;
    if (reset) reset.disabled = !busy && !started;
    status.textContent = String(model.get("status") ?? "");
  };
  update();
  const handlers: Record<string, () => void> = { busy: update, progress: update, status: update };
  for (const name of opts.watch ?? []) handlers[name] = update;
  scope.listen(model as AnyModel, handlers);
  return el;
}
