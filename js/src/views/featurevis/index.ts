/**
 * FeatureVisualizer's view, in the photo shell: the pictures being optimised (stage) beside the objective (its
 * settings, the layer picker, the unit picker's channel thumbnails while a unit is asked for, the class with its
 * name and the photo's top-5 while a class is), the unit's dataset examples beside the pictures (under them in a
 * narrow cell); the other settings below, grouped as the schema says; Start,
 * Resume, Reset with Stop and progress at the end. Which controls show follows the schema's `when` rules.
 */
import type { AnyModel } from "@anywidget/types";
import { h, show } from "../../core/dom";
import type { Scope } from "../../core/scope";
import type { FeaturevisTraits } from "../../core/traits";
import { layerPicker } from "../../components/layerPicker";
import { liveBatch } from "../../components/liveBatch";
import { traitForm } from "../../components/settingsForm";
import { unitPicker } from "../../components/unitPicker";
import { examplesStrip } from "./examples";
import { visible, type OptionDesc } from "../../logic/schema";
import { photoShell } from "../../shells/photo";
import { runBar } from "../../shells/stream";

const OBJECTIVE = "objective";

/** The objective's options with the chosen layer's limits: 0 <= unit < channels, row < height, column < width. */
export function withLayerLimits(descs: OptionDesc[], shape: number[] | undefined): OptionDesc[] {
  if (!shape || shape.length !== 3) return descs;
  const highs: Record<string, number> = { unit: shape[0] - 1, y: shape[1] - 1, x: shape[2] - 1 };
  return descs.map((d) => (d.name in highs ? { ...d, low: 0, high: highs[d.name] } : d));
}

export function renderFeaturevis(scope: Scope, model: AnyModel<FeaturevisTraits>, el: HTMLElement): void {
  const shell = photoShell(scope, model, { classHeading: "Top-5 of the photo: click one to make it the class" });
  const layerShape = () => (model.get("layers") ?? []).find((r) => r.name === model.get("layer"))?.shape;
  const objective = traitForm(scope, model, {
    prefix: "cnnviz-fv",
    options: (schema) => withLayerLimits(schema.filter((d) => d.group === OBJECTIVE), layerShape()),
  });
  const settings = traitForm(scope, model, { prefix: "cnnviz-fv", options: (schema) => schema.filter((d) => d.group !== OBJECTIVE) });
  const picker = layerPicker(scope, model);
  const units = unitPicker(scope, model);
  const label = h("div", { class: "cnnviz-fv-class-label" });
  const classGroup = h("div", { class: "cnnviz-fv-class" }, label, shell.predictions);
  const custom = h("div", { class: "cnnviz-note cnnviz-fv-custom" }, "A custom objective given in Python: Start renders it.");
  const photo = h("canvas", { class: "cnnviz-fv-photo", width: 1, height: 1, title: "the photo the thumbnails show activations of" });

  const shows = (name: string) => {
    const desc = (model.get("schema") ?? []).find((d) => d.name === name);
    return Boolean(desc) && visible(desc!, (n) => model.get(n));
  };
  const showParts = () => {
    const kind = String(model.get("kind"));
    const diverse = Number(model.get("batch")) > 1 && model.get("batch_mode") === "diverse";
    const wasHidden = picker.el.style.display === "none";
    show(picker.el, kind !== "class_logit" || diverse);
    if (wasHidden && picker.el.style.display === "") picker.shown();
    show(units.el, shows("unit"));
    show(classGroup, shows("target"));
    show(custom, kind === "custom");
  };
  shell.onPhoto((pixels) => {
    units.setPhoto(pixels);
    if (!pixels) return;
    photo.width = pixels.width;
    photo.height = pixels.height;
    photo.getContext("2d")!.putImageData(pixels, 0, 0);
  });
  const showLabel = () => (label.textContent = String(model.get("class_label") ?? ""));
  showParts();
  showLabel();
  scope.listen(model, {
    kind: showParts, batch: showParts, batch_mode: showParts, schema: showParts, class_label: showLabel,
    layer: objective.rebuild, layers: objective.rebuild,
  });

  shell.mount(el, {
    toolbar: [h("span", { class: "cnnviz-note" }, "thumbnails of this photo:"), photo],
    stage: h("div", { class: "cnnviz-fv-stage" }, h("div", { class: "cnnviz-fv-pictures" }, liveBatch(scope, model)), examplesStrip(scope, model)),
    side: [h("div", { class: "cnnviz-section cnnviz-fv-objective" }, objective.el, custom), picker.el, units.el, classGroup],
    below: [h("div", { class: "cnnviz-section cnnviz-fv-settings" }, settings.el)],
    footer: runBar(scope, model, { run: "Start", resume: true, reset: true, started: () => Number(model.get("step")) > 0, watch: ["step"] }),
  });
}
