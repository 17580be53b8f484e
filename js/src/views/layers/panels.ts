/** LayerExplorer's tab panels drawn from one array or picture each: the layer's filters (paged), the unit as a linear
 * combination of the filters below it, and the first-layer filters and a channel's map for each checkpoint. */
import type { AnyModel } from "@anywidget/types";
import { decodeArray, unstack, wireArray, type NdArray } from "../../core/arrays";
import { h, show } from "../../core/dom";
import type { Scope } from "../../core/scope";
import { save, type LayersTraits, type TabNote } from "../../core/traits";
import { colorBar } from "../../components/colorBar";
import { decodeImage, heatCanvas, lookOf, newestImage } from "../../components/heat";
import { traitForm } from "../../components/settingsForm";
import { filterMosaic, type FilterKind } from "../../logic/layers";

const KINDS: Record<FilterKind, string> = {
  rgb: "RGB filters, one tile each",
  grey: "one row per filter, one grey tile per input channel",
  depthwise: "depthwise: one grey kernel per channel",
  matrix: "1×1 convolution: its weight matrix (rows: filters, columns: input channels; grey is 0)",
};

/** Put `pixels` on `canvas` (sized to them); nothing when null. */
export function paint(canvas: HTMLCanvasElement, pixels: ImageData | null): void {
  if (!pixels) return;
  canvas.width = pixels.width;
  canvas.height = pixels.height;
  canvas.getContext("2d")!.putImageData(pixels, 0, 0);
}

const noteOf = (value: unknown): string | null => (value && typeof value === "object" && "note" in value ? (value as TabNote).note : null);

/** A canvas showing `tiles` (a page of filters) as one crisp, width-filling picture. */
export function mosaicCanvas(tiles: NdArray, kind: FilterKind, cls = "cnnviz-mosaic"): HTMLCanvasElement {
  const m = filterMosaic(tiles.data, tiles.shape, kind);
  // At most 12 screen pixels per weight: a small bank (32 RGB 3x3 filters) stays whole instead of filling the width.
  const canvas = h("canvas", { class: cls, width: m.width, height: m.height, "data-kind": kind, style: `max-width:${12 * m.width}px` });
  canvas.getContext("2d")!.putImageData(new ImageData(m.data, m.width, m.height), 0, 0);
  return canvas;
}

function panel(tab: string, ...children: HTMLElement[]): HTMLElement {
  return h("div", { class: "cnnviz-tab-panel", "data-tab": tab }, ...children);
}

export function filtersPanel(scope: Scope, model: AnyModel<LayersTraits>): HTMLElement {
  const form = traitForm(scope, model, { prefix: "cnnviz-layers", options: (schema) => schema.filter((d) => d.group === "filters") });
  const caption = h("div", { class: "cnnviz-note" });
  const holder = h("div", { class: "cnnviz-mosaic-holder" });
  const prev = h("button", { class: "cnnviz-page-prev", onclick: () => save(model, "page", Math.max(0, Number(model.get("page")) - 1)) }, "◀ previous");
  const next = h("button", { class: "cnnviz-page-next", onclick: () => save(model, "page", Number(model.get("page")) + 1) }, "next ▶");
  const pager = h("div", { class: "cnnviz-pager" }, prev, next);
  const draw = () => {
    const found = model.get("filters");
    const note = noteOf(found);
    const page = found && "kind" in found ? found : null;
    const tiles = decodeArray(wireArray(page));
    holder.replaceChildren(...(page && tiles ? [mosaicCanvas(tiles, page.kind)] : []));
    show(pager, Boolean(tiles));
    if (page && tiles) {
      const found = page;
      const last = found.first + tiles.shape[0];
      caption.textContent = `${found.layer}: filters ${found.first}–${last - 1} of ${found.total} · ${KINDS[found.kind]}${found.folded ? " · batch norm folded in" : ""}`;
      prev.disabled = found.first === 0;
      next.disabled = last >= found.total;
    } else caption.textContent = note ?? (model.get("busy") ? "computing the filters…" : "");
  };
  draw();
  scope.listen(model, { filters: draw, busy: draw });
  return panel("filters", caption, holder, pager, form.el);
}

export function combinationPanel(scope: Scope, model: AnyModel<LayersTraits>): HTMLElement {
  const form = traitForm(scope, model, { prefix: "cnnviz-layers", options: (schema) => schema.filter((d) => d.group === "combination") });
  const caption = h("div", { class: "cnnviz-note" });
  const image = h("canvas", { class: "cnnviz-combination-image", width: 1, height: 1, title: "the unit as a combination of filters" });
  const land = newestImage((pixels) => {
    show(image, Boolean(pixels));
    paint(image, pixels);
  });
  const draw = () => {
    const found = model.get("combination");
    const note = noteOf(found);
    if (!found || note || !("image" in found)) {
      caption.textContent = note ?? "Choose a convolution and a channel: its unit appears here in input space.";
      void land(null);
      return;
    }
    const strongest = found.channels.slice(0, 6).map((c, i) => `${c} (${found.strength[i].toPrecision(2)})`).join(", ");
    const space = found.barrier ? `in the input of ${found.chain[0]} (a ${found.barrier} below it stops the chain)` : "in input space";
    const through = found.chain.length > 2 ? `through ${found.chain.length} convolutions from ${found.chain[0]}` : `as a sum of ${found.chain[0]}'s filters`;
    caption.textContent = `${found.layer}:${found.unit} ${space} ${through}, ignoring the nonlinearities: its ${found.channels.length} most strongly weighted input channels (${found.size.join("×")} pixels; grey is 0). Strongest: ${strongest}`;
    void land(found.image);
  };
  draw();
  scope.listen(model, { combination: draw });
  return panel("combination", form.el, image, caption);
}

export function snapshotsPanel(scope: Scope, model: AnyModel<LayersTraits>): HTMLElement {
  const caption = h("div", { class: "cnnviz-note" });
  const strip = h("div", { class: "cnnviz-snapshots" });
  const draw = () => {
    const found = model.get("snapshots");
    const note = noteOf(found);
    if (!found || note || !("names" in found)) {
      caption.textContent = note ?? "";
      strip.replaceChildren();
      return;
    }
    const filters = decodeArray(found.filters);
    const maps = decodeArray(found.maps);
    caption.textContent = `For each checkpoint: the filters of ${found.first}, channel ${found.unit} of ${found.layer} on the photo, and the projection of its strongest activation`;
    const look = lookOf(model);
    strip.replaceChildren(
      ...found.names.map((name, i) => {
        const bar = colorBar({ compact: true });
        const heat = heatCanvas(look, { class: "cnnviz-snapshot-map" }, bar);
        if (maps) heat.setMap(unstack(maps)[i], `activation of ${found.layer}:${found.unit}`);
        const tiles = filters ? unstack(filters)[i] : null;
        const projection = h("canvas", { class: "cnnviz-snapshot-projection", width: 1, height: 1, title: "the deconvnet projection of its strongest activation" });
        void decodeImage(found.projections[i]).then((pixels) => paint(projection, pixels));
        return h("figure", { class: "cnnviz-snapshot", "data-checkpoint": name },
          h("figcaption", {}, name), ...(tiles ? [mosaicCanvas(tiles, found.kind, "cnnviz-mosaic cnnviz-snapshot-filters")] : []), heat.canvas, bar.el, projection);
      }),
    );
  };
  draw();
  scope.listen(model, { snapshots: draw });
  return panel("checkpoints", caption, strip);
}
