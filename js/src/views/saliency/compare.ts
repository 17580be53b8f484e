/**
 * Compare mode: a cell per method, each an overlay of the photo and that method's map (from `maps`) with its own
 * compact colour bar; cells whose map has not arrived are marked pending. The cells share one Look, edited by one
 * opacity slider and colour-map select above the grid. Clicking a cell makes it the main `method`.
 */
import type { AnyModel } from "@anywidget/types";
import { decodeArray } from "../../core/arrays";
import { h } from "../../core/dom";
import type { Scope } from "../../core/scope";
import { save, type SaliencyTraits } from "../../core/traits";
import { colorBar } from "../../components/colorBar";
import { heatCanvas, lookControls, type HeatCanvas, type Look } from "../../components/heat";

export function compareGrid(scope: Scope, model: AnyModel<SaliencyTraits>, look: Look): { el: HTMLElement; setBase: (base: ImageData | null) => void } {
  let base: ImageData | null = null;
  let cells: { name: string; el: HTMLElement; heat: HeatCanvas }[] = [];
  const grid = h("div", { class: "cnnviz-compare-grid" });
  const controls = h(
    "div",
    { class: "cnnviz-compare-grid-controls" },
    h("span", { class: "cnnviz-heading" }, "All methods (click one to show it above)"),
    lookControls(look, () => cells.forEach((c) => c.heat.draw())),
  );

  const fill = () => {
    const maps = model.get("maps") ?? {};
    for (const cell of cells) {
      const map = maps[cell.name];
      cell.heat.setMap(decodeArray(map), map?.quantity);
      cell.el.classList.toggle("cnnviz-pending", !map);
    }
  };
  const select = () => {
    for (const cell of cells) cell.el.classList.toggle("cnnviz-selected", cell.name === model.get("method"));
  };
  const build = () => {
    cells = (model.get("methods") ?? []).map((m) => {
      const bar = colorBar({ compact: true });
      const heat = heatCanvas(look, { class: "cnnviz-compare-canvas" }, bar);
      heat.setBase(base);
      const el = h(
        "div",
        { class: "cnnviz-compare-cell", "data-method": m.name, title: m.name, role: "button", tabindex: 0, onclick: () => save(model, "method", m.name),
          onkeydown: (ev: Event) => (ev as KeyboardEvent).key === "Enter" && save(model, "method", m.name) },
        h("div", { class: "cnnviz-compare-title" }, m.title),
        heat.canvas,
        bar.el,
      );
      return { name: m.name, el, heat };
    });
    grid.replaceChildren(...cells.map((c) => c.el));
    fill();
    select();
  };
  build();
  scope.listen(model, { methods: build, maps: fill, method: select });
  return {
    el: h("div", { class: "cnnviz-section cnnviz-compare" }, controls, grid),
    setBase(next) {
      base = next;
      cells.forEach((c) => c.heat.setBase(next));
    },
  };
}
