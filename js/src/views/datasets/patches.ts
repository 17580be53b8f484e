/** The top-patches tab: every unit of the layer by its strongest dataset patch (click a cell, or step with the arrow
 * keys, to choose the unit), then the unit's k strongest patches beside their projections back to the pixels, as in
 * Zeiler & Fergus's figures. Clicking a patch puts its image in focus with the receptive field drawn on it. */
import type { AnyModel } from "@anywidget/types";
import { h, show } from "../../core/dom";
import type { Scope } from "../../core/scope";
import { save, type DatasetsTraits, type OverviewResult, type PatchesResult } from "../../core/traits";
import { activationText, cellPercent, itemText, spriteCell, stepUnit } from "../../logic/datasets";
import { markItem, pictures, thumb, waiting } from "./pictures";

export function patchesPanel(scope: Scope, model: AnyModel<DatasetsTraits>, pick: (item: number) => void): HTMLElement {
  const sheet = pictures(scope);
  const crops = pictures(scope);
  const about = h("div", { class: "cnnviz-note" });
  const sprite = h("img", { class: "cnnviz-ds-sprite", alt: "every unit of the layer by its strongest patch", draggable: "false" });
  const marker = h("div", { class: "cnnviz-ds-marker" });
  const wrap = h("div", { class: "cnnviz-ds-sprite-wrap" }, sprite, marker);
  const holder = h("div", { class: "cnnviz-ds-sprite-holder", tabindex: 0, role: "listbox", "aria-label": "units", "data-lm-suppress-shortcuts": "true" }, wrap);
  const heading = h("div", { class: "cnnviz-heading" });
  const caption = h("div", { class: "cnnviz-note" });
  const grids = h("div", { class: "cnnviz-ds-patch-grids", "data-lm-suppress-shortcuts": "true" });

  const overview = (): OverviewResult | null => {
    const o = model.get("overview");
    return o && "image" in o && o.layer === model.get("layer") ? (o as OverviewResult) : null;
  };
  const current = (): PatchesResult | null => {
    const p = model.get("patches");
    return p && "items" in p && p.layer === model.get("layer") && p.unit === model.get("unit") ? (p as PatchesResult) : null;
  };
  const mark = () => {
    const o = overview();
    const at = o && cellPercent(o, Number(model.get("unit")));
    show(marker, Boolean(at));
    if (at) Object.assign(marker.style, { left: `${at.left}%`, top: `${at.top}%`, width: `${at.width}%`, height: `${at.height}%` });
  };
  const drawSheet = () => {
    const o = overview();
    sheet.clear();
    show(holder, Boolean(o));
    const layer = String(model.get("layer"));
    about.textContent = o
      ? `Each cell is one of the ${o.count} units of ${layer}, shown by the dataset patch that excites it most. Click a cell (or use the arrow keys) to see that unit's top patches below.`
      : waiting(model, `Finding the strongest patch of every unit of ${layer}…`);
    if (o) sprite.src = sheet.url(o.image);
    mark();
  };
  const unitAt = (ev: MouseEvent): number | null => {
    const o = overview();
    const r = sprite.getBoundingClientRect();
    return o && spriteCell(o, ev.clientX - r.left, ev.clientY - r.top, r.width, r.height);
  };
  sprite.addEventListener("click", (ev) => {
    const unit = unitAt(ev);
    if (unit !== null) save(model, "unit", unit);
  });
  sprite.addEventListener("mousemove", (ev) => {
    const unit = unitAt(ev);
    sprite.title = unit === null ? "" : `unit ${unit}: click for its top patches`;
  });
  holder.addEventListener("keydown", (ev) => {
    const o = overview();
    const next = o && stepUnit(o, Number(model.get("unit")), ev.key);
    if (next === null || next === undefined) return;
    ev.preventDefault();
    ev.stopPropagation();
    if (next !== model.get("unit")) save(model, "unit", next);
  });

  const drawPatches = () => {
    const p = current();
    const at = `${model.get("layer")}:${model.get("unit")}`;
    crops.clear();
    heading.textContent = `Top patches of unit ${at}`;
    if (!p || !p.items.length) {
      caption.textContent = p ? `${at} does not fire on any scanned image.` : waiting(model, `Finding and projecting the top patches of ${at}…`);
      grids.replaceChildren();
      return;
    }
    const focus = Number(model.get("item"));
    const paired = p.projections.length === p.items.length;
    const rule = p.rule === "deconvnet" ? "deconvnet" : "guided backprop";
    caption.textContent =
      `The ${p.items.length} dataset patches that excite ${at} most, strongest first, each cropped to the unit's receptive field (grey: beyond the image's border)` +
      (paired ? `, beside their ${rule} projections: what in each patch the unit responds to (grey is 0).` : ".") + " Click one to see its whole image above." +
      (p.note ? ` Note: ${p.note}.` : "");
    const cell = (src: string, text: string, i: number) => {
      const it = p.items[i];
      const title = `${itemText(it.item, it.name)}${it.label ? ` (${it.label})` : ""}: activation ${activationText(it.value)}`;
      return thumb(src, text, { item: it.item, title, selected: it.item === focus, pick });
    };
    const grid = (label: string, cells: HTMLElement[]) =>
      h("figure", { class: "cnnviz-ds-patch-grid" }, h("div", { class: "cnnviz-ds-cells", style: `--cz-columns:${Math.ceil(Math.sqrt(cells.length))}` }, ...cells), h("figcaption", {}, label));
    grids.replaceChildren(
      ...(paired ? [grid(`${rule} projections`, p.items.map((_, i) => cell(crops.url(p.projections[i]), "", i)))] : []),
      grid("patches (activation)", p.items.map((it, i) => cell(crops.url(p.crops[i]), activationText(it.value), i))),
    );
  };
  const both = () => {
    drawSheet();
    drawPatches();
  };
  // The scan's progress only changes the words of what is still missing.
  const missing = () => {
    if (!overview()) drawSheet();
    if (!current()) drawPatches();
  };
  both();
  scope.listen(model, {
    overview: drawSheet, layer: both, unit: () => (mark(), drawPatches()), patches: drawPatches,
    item: () => markItem(grids, Number(model.get("item"))), busy: missing, summary: missing,
  });
  return h("div", { class: "cnnviz-tab-panel", "data-tab": "patches" }, about, holder, h("div", { class: "cnnviz-section" }, heading, caption, grids));
}
