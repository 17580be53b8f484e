/**
 * SaliencyExplorer's view, in the photo shell: the photo with the current method's map (stage) beside the class
 * picker, the method picker with its options and the layer picker (side); the compare grid (in the DOM only while
 * `compare` is on) and the faithfulness panel below; the job bar (Stop and progress) at the end.
 */
import type { AnyModel } from "@anywidget/types";
import { decodeArray } from "../../core/arrays";
import { h, show } from "../../core/dom";
import type { Scope } from "../../core/scope";
import { save, type HeatArray, type SaliencyTraits } from "../../core/traits";
import { layerPicker } from "../../components/layerPicker";
import { overlayView } from "../../components/overlay";
import { photoShell } from "../../shells/photo";
import { runBar } from "../../shells/stream";
import { analysisPanel } from "./analysis";
import { compareGrid } from "./compare";
import { currentMethod, methodPicker } from "./methods";

export function renderSaliency(scope: Scope, model: AnyModel<SaliencyTraits>, el: HTMLElement): void {
  const shell = photoShell(scope, model);
  const look = shell.look();
  const analysis = analysisPanel(scope, model, look);
  const overlay = overlayView({ look, filename: "saliency.png", onLook: analysis.redraw, below: shell.notice });
  const grid = compareGrid(scope, model, shell.look());
  const picker = layerPicker(scope, model);
  const toggle = h("button", { class: "cnnviz-compare-toggle", onclick: () => save(model, "compare", !model.get("compare")) }, "Compare all methods");
  const gridSlot = h("div", { class: "cnnviz-compare-slot" });

  const showLayerPicker = () => {
    const wanted = Boolean(currentMethod(model)?.layer);
    const wasHidden = picker.el.style.display === "none";
    show(picker.el, wanted);
    if (wasHidden && wanted) picker.shown();
  };
  // The grid leaves the DOM when compare is off, so the main overlay's controls are the only ones there.
  const showCompare = () => {
    const on = Boolean(model.get("compare"));
    toggle.setAttribute("aria-pressed", String(on));
    toggle.classList.toggle("cnnviz-selected", on);
    gridSlot.replaceChildren(...(on ? [grid.el] : []));
  };
  const heat = () => {
    const map = model.get("heatmap") as HeatArray | null;
    overlay.setMap(decodeArray(map), map?.quantity);
  };
  shell.onPhoto((base) => {
    overlay.setBase(base);
    grid.setBase(base);
  });
  showLayerPicker();
  showCompare();
  heat();
  scope.listen(model, { heatmap: heat, method: showLayerPicker, methods: showLayerPicker, compare: showCompare });

  shell.mount(el, {
    toolbar: [toggle],
    stage: overlay.el,
    side: [shell.predictions, methodPicker(scope, model), picker.el],
    below: [gridSlot, analysis.el],
    footer: runBar(scope, model),
  });
}
