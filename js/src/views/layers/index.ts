/**
 * LayerExplorer's view, in the photo shell: the photo with the clicked channel's map, the box on the receptive field
 * of its strongest position and that position's projection (stage); the layer picker (arrow keys flip through the
 * layers) and the tabs beside it: every channel's activation map (sortable by the statistics Python sends), the
 * layer's filters, the unit as a linear combination of filters, invariance curves and features across training.
 * A tab computes in Python when first shown.
 */
import type { AnyModel } from "@anywidget/types";
import { decodeArray } from "../../core/arrays";
import { h, show } from "../../core/dom";
import type { Scope } from "../../core/scope";
import { save, type HeatArray, type LayersTraits } from "../../core/traits";
import { layerPicker } from "../../components/layerPicker";
import { overlayView } from "../../components/overlay";
import { unitPicker } from "../../components/unitPicker";
import { channelOrder, SORTS, type ChannelStats, type Sort } from "../../logic/layers";
import { photoShell } from "../../shells/photo";
import { runBar } from "../../shells/stream";
import { combinationPanel, filtersPanel, snapshotsPanel } from "./panels";
import { invariancePanel } from "./curves";
import { projectionPanel } from "./projection";

const TABS: [string, string][] = [
  ["activations", "activations"],
  ["filters", "filters"],
  ["combination", "linear combination"],
  ["invariance", "invariance"],
  ["checkpoints", "checkpoints"],
];

export function renderLayers(scope: Scope, model: AnyModel<LayersTraits>, el: HTMLElement): void {
  const shell = photoShell(scope, model, { classHeading: "Top-5 of the photo" });
  const overlay = overlayView({ look: shell.look(), filename: "layer-channel.png", below: shell.notice });
  const picker = layerPicker(scope, model);
  let sort: Sort = "channel";
  const stats = () => model.get("stats") as Partial<ChannelStats> | null;
  const units = unitPicker(scope, model, {
    order: (count) => channelOrder(count, sort, stats()),
    note: (count, layer) => `${count} channels of ${layer} on the photo (bright: where each fires) · click one for its map, receptive field and projection`,
    title: (unit) => {
      const s = stats();
      const at = (v?: number[]) => (v && v[unit] !== undefined ? v[unit].toPrecision(3) : "?");
      return `channel ${unit}: mean ${at(s?.mean)}, max ${at(s?.max)}, active ${s?.active ? `${Math.round(100 * s.active[unit])}%` : "?"}`;
    },
  });
  const sorter = h("select", { class: "cnnviz-sort", "aria-label": "sort channels" }, ...SORTS.map((s) => h("option", { value: s }, s === "channel" ? "by index" : s === "active" ? "share active" : s)));
  sorter.addEventListener("change", () => {
    sort = sorter.value as Sort;
    units.reorder();
  });
  const activations = h("div", { class: "cnnviz-tab-panel", "data-tab": "activations" }, h("label", { class: "cnnviz-field-label" }, "sort channels ", sorter), units.el);
  const panels: Record<string, HTMLElement> = {
    activations,
    filters: filtersPanel(scope, model),
    combination: combinationPanel(scope, model),
    invariance: invariancePanel(scope, model),
    checkpoints: snapshotsPanel(scope, model),
  };
  const buttons = TABS.map(([name, label]) =>
    h("button", { class: "cnnviz-tab", role: "tab", "data-tab": name, onclick: () => save(model, "tab", name) }, label),
  );
  const tabs = () => {
    const tab = String(model.get("tab"));
    buttons.forEach((b) => {
      const on = b.dataset.tab === tab;
      b.classList.toggle("cnnviz-selected", on);
      b.setAttribute("aria-selected", String(on));
    });
    Object.entries(panels).forEach(([name, panel]) => show(panel, name === tab));
  };
  const heat = () => {
    const map = model.get("heatmap");
    const wire = map && "shape" in map ? (map as HeatArray) : null;
    overlay.setMap(decodeArray(wire), wire?.quantity);
  };
  const box = () => {
    const p = model.get("projection");
    overlay.setBox(p && "box" in p && p.unit === model.get("unit") ? p.box : null);
  };
  const projection = projectionPanel(scope, model);
  shell.onPhoto((pixels) => {
    overlay.setBase(pixels);
    units.setPhoto(pixels);
    box();
  });
  heat();
  tabs();
  scope.listen(model, { heatmap: heat, projection: box, tab: tabs, stats: units.reorder });

  shell.mount(el, {
    stage: h("div", { class: "cnnviz-layers-stage" }, overlay.el, projection),
    side: [picker.el, h("div", { class: "cnnviz-section cnnviz-tabs" }, h("div", { class: "cnnviz-tab-bar", role: "tablist" }, ...buttons), ...Object.values(panels))],
    below: [h("div", { class: "cnnviz-section" }, shell.predictions)],
    footer: runBar(scope, model, {}),
  });
}
