/** Small DOM components shared by every view: element helper, error banner, progress + Stop, pickers. */
import type { AnyModel } from "@anywidget/types";

type Attrs = Record<string, string | number | boolean | EventListener | undefined>;

/** Create an element with attributes, `on*` listeners and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  el.append(...children);
  return el;
}

/** Subscribe to trait changes and return one function that unsubscribes them all. */
export function listen(model: AnyModel, handlers: Record<string, () => void>): () => void {
  for (const [name, fn] of Object.entries(handlers)) model.on(`change:${name}`, fn);
  return () => {
    for (const [name, fn] of Object.entries(handlers)) model.off(`change:${name}`, fn);
  };
}

/** Set a trait and sync it to Python. */
export function save(model: AnyModel, name: string, value: unknown): void {
  model.set(name, value);
  model.save_changes();
}

/** Let the browser save `blob` as a file called `filename` ("Download PNG"). */
export function saveBlob(blob: Blob, filename: string): void {
  const a = h("a", { href: URL.createObjectURL(blob), download: filename });
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

/** Show the text trait `name` in `text`, and `el` only while that text is not empty; returns the unsubscriber. */
export function showText(model: AnyModel, name: string, el: HTMLElement, text: HTMLElement = el): () => void {
  const update = () => {
    const value = String(model.get(name) ?? "");
    text.textContent = value;
    el.style.display = value ? "" : "none";
  };
  update();
  return listen(model, { [name]: update });
}

/** Banner showing the `error` trait; its close button asks Python to clear it. */
export function errorBanner(model: AnyModel): { el: HTMLElement; dispose: () => void } {
  const text = h("span", { class: "cnnviz-error-text" });
  const el = h(
    "div",
    { class: "cnnviz-error", role: "alert" },
    text,
    h("button", { class: "cnnviz-error-close", title: "Dismiss", onclick: () => model.send({ type: "dismiss_error" }) }, "×"),
  );
  return { el, dispose: showText(model, "error", el, text) };
}

/** Progress bar, status line and Stop button bound to `busy`, `progress` and `status`. */
export function progressBar(model: AnyModel): { el: HTMLElement; dispose: () => void } {
  const fill = h("div", { class: "cnnviz-progress-fill" });
  const status = h("span", { class: "cnnviz-status" });
  const stop = h("button", { class: "cnnviz-stop", onclick: () => model.send({ type: "stop" }) }, "Stop");
  const el = h("div", { class: "cnnviz-progress" }, h("div", { class: "cnnviz-progress-track" }, fill), status, stop);
  const update = () => {
    const busy = Boolean(model.get("busy"));
    fill.style.width = `${Math.round(100 * Number(model.get("progress") ?? 0))}%`;
    el.classList.toggle("cnnviz-busy", busy);
    stop.disabled = !busy;
    status.textContent = String(model.get("status") ?? "");
  };
  update();
  return { el, dispose: listen(model, { busy: update, progress: update, status: update }) };
}

export interface LayerRow {
  name: string;
  type: string;
  shape: number[];
}

/** Searchable layer tree (indented by dotted depth, with output shapes) bound to the `layer` trait. */
export function layerPicker(model: AnyModel): { el: HTMLElement; dispose: () => void; shown: () => void } {
  const search = h("input", { type: "search", class: "cnnviz-layer-search", placeholder: "filter layers…" });
  const list = h("div", { class: "cnnviz-layer-list", role: "listbox" });
  const current = h("div", { class: "cnnviz-layer-current" });
  const el = h("div", { class: "cnnviz-layer-picker" }, current, search, list);
  const draw = () => {
    const rows = (model.get("layers") ?? []) as LayerRow[];
    const selected = String(model.get("layer") ?? "");
    const q = search.value.trim().toLowerCase();
    current.textContent = `layer: ${selected || "—"}`;
    list.replaceChildren(
      ...rows
        .filter((r) => !q || r.name.toLowerCase().includes(q) || r.type.toLowerCase().includes(q))
        .map((r) =>
          h(
            "div",
            {
              class: `cnnviz-layer-row${r.name === selected ? " cnnviz-selected" : ""}`,
              role: "option",
              "data-layer": r.name,
              "aria-selected": r.name === selected,
              style: `padding-left:${0.4 + 0.8 * (r.name.split(".").length - 1)}em`,
              title: `${r.name} (${r.type}) → ${r.shape.join("×")}`,
              onclick: () => save(model, "layer", r.name),
            },
            h("span", { class: "cnnviz-layer-name" }, r.name),
            h("span", { class: "cnnviz-layer-shape" }, r.shape.join("×")),
          ),
        ),
    );
    scrollToSelected();
  };
  // Keep the chosen layer in sight; the list may not be laid out yet on first draw.
  const scrollToSelected = () =>
    requestAnimationFrame(() => {
      const row = list.querySelector<HTMLElement>(".cnnviz-selected");
      if (row) list.scrollTop = row.offsetTop - list.clientHeight / 2 + row.clientHeight / 2;
    });
  search.addEventListener("input", draw);
  draw();
  return { el, dispose: listen(model, { layers: draw, layer: draw }), shown: scrollToSelected };
}

export interface PredictionRow {
  index: number;
  label: string;
  prob: number;
}

/** Top-k list used as the class picker: clicking a row makes it the `target`. */
export function predictionList(model: AnyModel): { el: HTMLElement; dispose: () => void } {
  const el = h("ol", { class: "cnnviz-predictions" });
  const draw = () => {
    const rows = (model.get("predictions") ?? []) as PredictionRow[];
    const target = Number(model.get("target"));
    el.replaceChildren(
      ...rows.map((r) =>
        h(
          "li",
          {
            class: `cnnviz-prediction${r.index === target ? " cnnviz-selected" : ""}`,
            "data-index": r.index,
            title: `class ${r.index}`,
            onclick: () => save(model, "target", r.index),
          },
          h("span", { class: "cnnviz-prediction-bar", style: `width:${(100 * r.prob).toFixed(1)}%` }),
          h("span", { class: "cnnviz-prediction-label" }, r.label),
          h("span", { class: "cnnviz-prediction-prob" }, `${(100 * r.prob).toFixed(1)}%`),
        ),
      ),
    );
  };
  draw();
  return { el, dispose: listen(model, { predictions: draw, target: draw }) };
}
