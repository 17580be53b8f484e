/**
 * The layers to reconstruct from: a filterable list of the network's layers (indented by dotted depth, with output
 * shapes), one checkbox each, bound to the `layers` trait. Ticked layers stay in network order (shallow to deep); a
 * list Python refuses (none at all) lands in the banner and the boxes show the layers in use again.
 */
import type { AnyModel } from "@anywidget/types";
import { h } from "../../core/dom";
import type { Scope } from "../../core/scope";
import { save, type InversionTraits } from "../../core/traits";
import { toggleLayer } from "../../logic/inversion";

export function layerChecklist(scope: Scope, model: AnyModel<InversionTraits>): HTMLElement {
  // JupyterLab and Notebook 7 bind keys (space, arrows) to cell commands unless an element says otherwise.
  const own = { "data-lm-suppress-shortcuts": "true" };
  const search = h("input", { type: "search", class: "cnnviz-layer-search", placeholder: "filter layers…", "aria-label": "filter layers", ...own });
  const list = h("div", { class: "cnnviz-layer-list cnnviz-inv-layers", role: "group", "aria-label": "layers to reconstruct from", ...own });
  const count = h("span", { class: "cnnviz-layer-current" });

  const draw = () => {
    const chosen = model.get("layers") ?? [];
    const rows = model.get("layer_rows") ?? [];
    const order = rows.map((r) => r.name);
    const q = search.value.trim().toLowerCase();
    const shown = rows.filter((r) => !q || r.name.toLowerCase().includes(q) || r.type.toLowerCase().includes(q));
    count.textContent = `${chosen.length} ticked`;
    list.replaceChildren(
      ...(shown.length
        ? shown.map((r) => {
            const on = chosen.includes(r.name);
            const box = h("input", { type: "checkbox", "data-layer": r.name, "aria-label": r.name, checked: on });
            box.addEventListener("change", () => save(model, "layers", toggleLayer(model.get("layers") ?? [], r.name, box.checked, order)));
            return h(
              "label",
              {
                class: `cnnviz-layer-row cnnviz-inv-layer${on ? " cnnviz-selected" : ""}`,
                style: `padding-left:${0.5 + 0.8 * (r.name.split(".").length - 1)}em`,
                title: `${r.name} (${r.type}) → ${r.shape.join("×")}`,
              },
              box,
              h("span", { class: "cnnviz-layer-name" }, r.name),
              h("span", { class: "cnnviz-layer-shape" }, r.shape.join("×")),
            );
          })
        : [h("div", { class: "cnnviz-empty-note" }, q ? `no layer matches “${search.value.trim()}”` : "no layers")]),
    );
  };
  search.addEventListener("input", draw);
  draw();
  scope.listen(model, { layers: draw, layer_rows: draw });
  return h("div", { class: "cnnviz-section cnnviz-layer-picker" }, h("div", { class: "cnnviz-heading" }, "layers ", count), search, list);
}
