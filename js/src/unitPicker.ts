/**
 * Unit picker: a scrolling grid of channel thumbnails from the `thumbnails` trait (a layer's (C, h, w)
 * activation maps on a photo), each colour-mapped on its own range and labelled with its channel index. A click
 * makes a channel the `unit`; a ctrl-, shift- or cmd-click adds it to `units` (or removes it), the channels a
 * batch renders side by side.
 */
import type { AnyModel } from "@anywidget/types";
import { decodeArray, unstack, type WireArray } from "./arrays";
import { lut } from "./colormap";
import { peak, rescale, toggleUnit } from "./featurevis";
import { colorize } from "./overlay";
import { h, listen, save } from "./ui";

export function unitPicker(model: AnyModel): { el: HTMLElement; dispose: () => void } {
  const note = h("div", { class: "cnnviz-units-note" });
  const grid = h("div", { class: "cnnviz-units", role: "listbox", "aria-label": "unit" });
  let cells: HTMLElement[] = [];
  const units = () => (model.get("units") ?? []) as number[];

  const pick = (unit: number, ev: MouseEvent) => {
    if (ev.ctrlKey || ev.metaKey || ev.shiftKey) {
      save(model, "units", toggleUnit(units(), unit));
      return;
    }
    model.set("unit", unit);
    model.set("units", []);
    model.save_changes();
  };
  const mark = () => {
    const unit = Number(model.get("unit"));
    const picked = new Set(units());
    cells.forEach((cell, i) => {
      cell.classList.toggle("cnnviz-selected", i === unit);
      cell.classList.toggle("cnnviz-picked", picked.has(i));
      cell.setAttribute("aria-selected", String(i === unit));
    });
    const chosen = cells[unit];
    if (chosen && (chosen.offsetTop < grid.scrollTop || chosen.offsetTop + chosen.offsetHeight > grid.scrollTop + grid.clientHeight)) {
      grid.scrollTop = chosen.offsetTop - grid.clientHeight / 2;
    }
  };
  const build = () => {
    const wire = model.get("thumbnails") as (WireArray & { layer: string }) | null;
    const maps = decodeArray(wire);
    if (!maps || maps.shape.length !== 3) {
      cells = [];
      note.textContent = "No thumbnails: this layer's output has no (C, H, W) maps.";
    } else {
      const table = lut(String(model.get("colormap")));
      note.textContent = `${maps.shape[0]} channels of ${wire!.layer} on the photo · click: choose the unit · ctrl-click: add it to the channels batch`;
      cells = unstack(maps).map((map, i) => {
        const [mh, mw] = map.shape;
        const canvas = h("canvas", { class: "cnnviz-unit-canvas", width: mw, height: mh });
        canvas.getContext("2d")!.putImageData(new ImageData(colorize(rescale(map.data), mh, mw, table), mw, mh), 0, 0);
        return h(
          "div",
          {
            class: "cnnviz-unit",
            role: "option",
            "data-unit": i,
            title: `unit ${i}: peak activation ${peak(map.data).toPrecision(3)}`,
            onclick: (ev: Event) => pick(i, ev as MouseEvent),
          },
          canvas,
          h("span", { class: "cnnviz-unit-index" }, String(i)),
        );
      });
    }
    grid.replaceChildren(...cells);
    requestAnimationFrame(mark); // laid out by then, so the chosen unit can be scrolled to
  };
  build();
  return {
    el: h("div", { class: "cnnviz-unit-picker" }, note, grid),
    dispose: listen(model, { thumbnails: build, colormap: build, unit: mark, units: mark }),
  };
}
