/**
 * Compare mode: a cell per method, each an overlay of the picture and that method's map from the `maps`
 * trait (cells whose map has not arrived are marked pending). All cells share one Look, edited by one
 * opacity slider and one colour-map select above the grid. Clicking a cell makes it the main `method`.
 */
import type { AnyModel } from "@anywidget/types";
import { decodeArray, type WireArray } from "../arrays";
import { gridColumns } from "../layout";
import type { MethodDesc } from "../options";
import { heatCanvas, lookControls, type HeatCanvas, type Look } from "../overlayCanvas";
import { h, listen, save } from "../ui";

export function compareGrid(model: AnyModel, look: Look): { el: HTMLElement; setBase: (base: ImageData | null) => void; dispose: () => void } {
  let base: ImageData | null = null;
  let cells: { name: string; el: HTMLElement; heat: HeatCanvas }[] = [];
  const grid = h("div", { class: "cnnviz-compare-grid" });
  const controls = h(
    "div",
    { class: "cnnviz-compare-grid-controls" },
    h("span", { class: "cnnviz-heading" }, "All methods (click one to show it above)"),
    ...lookControls(look, () => cells.forEach((c) => c.heat.draw())),
  );

  const fill = () => {
    const maps = (model.get("maps") ?? {}) as Record<string, WireArray>;
    for (const cell of cells) {
      cell.heat.setMap(decodeArray(maps[cell.name]));
      cell.el.classList.toggle("cnnviz-pending", !maps[cell.name]);
    }
  };
  const select = () => {
    const current = String(model.get("method"));
    for (const cell of cells) cell.el.classList.toggle("cnnviz-selected", cell.name === current);
  };
  const build = () => {
    const methods = (model.get("methods") ?? []) as MethodDesc[];
    cells = methods.map((m) => {
      const heat = heatCanvas(look, { class: "cnnviz-compare-canvas" });
      heat.setBase(base);
      const el = h(
        "div",
        { class: "cnnviz-compare-cell", "data-method": m.name, title: m.name, onclick: () => save(model, "method", m.name) },
        heat.canvas,
        h("div", { class: "cnnviz-compare-title" }, m.title),
      );
      return { name: m.name, el, heat };
    });
    grid.style.gridTemplateColumns = `repeat(${gridColumns(cells.length)}, minmax(0, 1fr))`;
    grid.replaceChildren(...cells.map((c) => c.el));
    fill();
    select();
  };
  build();

  return {
    el: h("div", { class: "cnnviz-compare" }, controls, grid),
    setBase(next) {
      base = next;
      cells.forEach((c) => c.heat.setBase(next));
    },
    dispose: listen(model, { methods: build, maps: fill, method: select }),
  };
}
