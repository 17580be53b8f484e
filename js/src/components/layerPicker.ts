/** Searchable layer tree (indented by dotted depth, with output shapes) bound to the `layer` trait; a filter that
 * matches nothing says so. The up and down arrow keys (in the list, or in the filter box) step to the previous or next
 * layer shown, so one can flip through a network's layers. */
import type { AnyModel } from "@anywidget/types";
import { h } from "../core/dom";
import type { Scope } from "../core/scope";
import { save, type LayerTraits } from "../core/traits";

export interface LayerPicker {
  el: HTMLElement;
  /** Call when the picker becomes visible: scrolls the chosen layer into sight. */
  shown(): void;
}

export function layerPicker(scope: Scope, model: AnyModel<LayerTraits>): LayerPicker {
  // JupyterLab and Notebook 7 bind the arrow keys to moving between cells unless an element says otherwise.
  const own = { "data-lm-suppress-shortcuts": "true" };
  const search = h("input", { type: "search", class: "cnnviz-layer-search", placeholder: "filter layers…", "aria-label": "filter layers", ...own });
  const list = h("div", { class: "cnnviz-layer-list", role: "listbox", "aria-label": "layer", tabindex: 0, ...own });
  const current = h("span", { class: "cnnviz-layer-current" });
  const el = h(
    "div",
    { class: "cnnviz-section cnnviz-layer-picker" },
    h("div", { class: "cnnviz-heading" }, "layer ", current),
    search,
    list,
  );
  const shownRows = () => {
    const q = search.value.trim().toLowerCase();
    return (model.get("layers") ?? []).filter((r) => !q || r.name.toLowerCase().includes(q) || r.type.toLowerCase().includes(q));
  };
  const draw = () => {
    const selected = String(model.get("layer") ?? "");
    const q = search.value.trim().toLowerCase();
    current.textContent = selected || "—";
    const rows = shownRows();
    list.replaceChildren(
      ...(rows.length
        ? rows.map((r) =>
            h(
              "div",
              {
                class: `cnnviz-layer-row${r.name === selected ? " cnnviz-selected" : ""}`,
                role: "option",
                "data-layer": r.name,
                "aria-selected": String(r.name === selected),
                style: `padding-left:${0.5 + 0.8 * (r.name.split(".").length - 1)}em`,
                title: `${r.name} (${r.type}) → ${r.shape.join("×")}`,
                onclick: () => {
                  save(model, "layer", r.name);
                  list.focus({ preventScroll: true });
                },
              },
              h("span", { class: "cnnviz-layer-name" }, r.name),
              h("span", { class: "cnnviz-layer-shape" }, r.shape.join("×")),
            ),
          )
        : [h("div", { class: "cnnviz-empty-note" }, q ? `no layer matches “${search.value.trim()}”` : "no layers")]),
    );
    scrollToSelected();
  };
  // Keep the chosen layer in sight; the list may not be laid out yet on first draw.
  const scrollToSelected = () =>
    requestAnimationFrame(() => {
      const row = list.querySelector<HTMLElement>(".cnnviz-selected");
      if (row) list.scrollTop = row.offsetTop - list.clientHeight / 2 + row.clientHeight / 2;
    });
  const step = (ev: KeyboardEvent) => {
    const by = ev.key === "ArrowDown" ? 1 : ev.key === "ArrowUp" ? -1 : 0;
    const names = shownRows().map((r) => r.name);
    if (!by || !names.length) return;
    ev.preventDefault();
    ev.stopPropagation();
    const at = names.indexOf(String(model.get("layer") ?? ""));
    save(model, "layer", names[Math.min(names.length - 1, Math.max(0, at < 0 ? 0 : at + by))]);
  };
  search.addEventListener("input", draw);
  search.addEventListener("keydown", step);
  list.addEventListener("keydown", step);
  draw();
  scope.listen(model, { layers: draw, layer: draw });
  return { el, shown: scrollToSelected };
}
