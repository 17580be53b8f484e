/**
 * FeatureVisualizer's view: the photo picker for the thumbnails on top; the pictures being optimised (live
 * frames, then the lossless end) beside the objective: its kind, the layer picker, the unit (with the neuron's
 * position), the class (with its name and the photo's top-5); the unit picker's channel thumbnails; the batch,
 * optimisation and regulariser settings; Start / Resume / Reset beside the progress line with Stop.
 */
import type { AnyModel } from "@anywidget/types";
import type { WireBytes } from "../codec";
import { traitCheckbox, traitField, traitSelect, type Field } from "../fields";
import { imageInput } from "../imageInput";
import { fitNotice } from "../notice";
import { parseNumber, parseWhole } from "../options";
import { newestImage } from "../overlayCanvas";
import { errorBanner, h, layerPicker, listen, predictionList, progressBar } from "../ui";
import { unitPicker } from "../unitPicker";
import { liveBatch } from "./liveBatch";

const prefix = "cnnviz-fv";

export function renderFeaturevis(model: AnyModel, el: HTMLElement): () => void {
  const choices = (name: string) => () => ((model.get("choices") ?? {}) as Record<string, string[]>)[name] ?? [];
  const select = (name: string, label: string) => traitSelect(model, name, choices(name), { prefix, label, choicesTrait: "choices" });
  const real = (name: string, label: string, title?: string) =>
    traitField(model, name, parseNumber, { type: "number", min: 0, step: "any" }, { prefix, label, title });
  const whole = (name: string, label: string, title?: string, min = 0) =>
    traitField(model, name, parseWhole, { type: "number", min, step: 1 }, { prefix, label, title });
  const position = (name: string) =>
    traitField(model, name, parseWhole, { type: "number", min: 0, step: 1, placeholder: "centre" }, { prefix, optional: true, title: "empty: the centre of the map" });

  const banner = errorBanner(model);
  const progress = progressBar(model);
  const images = imageInput(model);
  const notice = fitNotice(model);
  const live = liveBatch(model);
  const picker = layerPicker(model);
  const units = unitPicker(model);
  const predictions = predictionList(model);
  const label = h("span", { class: "cnnviz-fv-class-label" });
  const kind = select("kind", "objective");
  const neuron = [position("y"), position("x")];
  const unit = whole("unit", "unit");
  const target = whole("target", "class");
  const batch = [whole("batch", "batch", "pictures optimised together", 1), select("batch_mode", "mode")];
  const diversity = real("diversity", "diversity weight");
  const settings = [
    whole("size", "size", "side of the pictures in pixels", 1),
    whole("steps", "steps", "steps per Start (Resume after the end: this many more)", 1),
    real("lr", "lr", "Adam's learning rate"),
    select("param", "param"),
    select("squash", "squash"),
    traitCheckbox(model, "decorrelate", { prefix, title: "optimise in decorrelated colour space" }),
    traitCheckbox(model, "transforms", { prefix, title: "jitter, scale and rotate the picture every step" }),
    whole("seed", "seed"),
  ];
  const regularisers = [
    real("l2", "l2"),
    real("tv", "tv", "total variation"),
    real("decay", "decay", "param = pixel"),
    whole("blur_every", "blur every", "param = pixel; 0: never"),
    real("blur_sigma", "blur σ", "param = pixel"),
    real("clip_norm", "clip norm %", "param = pixel"),
    real("clip_contribution", "clip contribution %", "param = pixel"),
  ];
  const fields: Field[] = [kind, ...neuron, unit, target, ...batch, diversity, ...settings, ...regularisers];

  const photo = h("canvas", { class: "cnnviz-fv-photo", width: 1, height: 1, title: "the photo the thumbnails show activations of" });
  const drawPhoto = newestImage((pixels) => {
    if (!pixels) return;
    photo.width = pixels.width;
    photo.height = pixels.height;
    photo.getContext("2d")!.putImageData(pixels, 0, 0);
  });
  const showPhoto = () => void drawPhoto(model.get("image") as WireBytes | null);
  const classGroup = h("div", { class: "cnnviz-fv-class" }, h("div", { class: "cnnviz-options" }, target.el, label), h("div", { class: "cnnviz-heading" }, "Top-5 of the photo"), predictions.el);
  const unitGroup = h("div", { class: "cnnviz-options" }, unit.el, ...neuron.map((f) => f.el));
  const custom = h("div", { class: "cnnviz-fv-custom" }, "A custom objective given in Python: Start renders it.");
  const start = h("button", { class: "cnnviz-fv-start", onclick: () => model.send({ type: "start" }) }, "Start");
  const resume = h("button", { class: "cnnviz-fv-resume", onclick: () => model.send({ type: "resume" }) }, "Resume");
  const reset = h("button", { class: "cnnviz-fv-reset", onclick: () => model.send({ type: "reset" }) }, "Reset");

  const showKind = () => {
    const k = String(model.get("kind"));
    const diverse = Number(model.get("batch")) > 1 && model.get("batch_mode") === "diverse";
    const show = (node: HTMLElement, on: boolean) => (node.style.display = on ? "" : "none");
    const wasHidden = picker.el.style.display === "none";
    show(picker.el, k !== "class_logit" || diverse);
    if (wasHidden && picker.el.style.display === "") picker.shown();
    show(unitGroup, k === "channel" || k === "neuron");
    show(units.el, k === "channel" || k === "neuron");
    neuron.forEach((f) => show(f.el, k === "neuron"));
    show(classGroup, k === "class_logit");
    show(custom, k === "custom");
    show(diversity.el, model.get("batch_mode") === "diverse");
  };
  const showButtons = () => {
    const busy = Boolean(model.get("busy"));
    const started = Number(model.get("step")) > 0;
    resume.disabled = busy || !started;
    reset.disabled = !busy && !started;
  };
  const showLabel = () => (label.textContent = String(model.get("class_label") ?? ""));
  showKind();
  showButtons();
  showLabel();
  showPhoto();

  el.append(
    h(
      "div",
      { class: "cnnviz cnnviz-featurevis" },
      banner.el,
      h("div", { class: "cnnviz-toolbar" }, h("span", { class: "cnnviz-heading" }, "Photo for the thumbnails"), photo, images.el, notice.el),
      h(
        "div",
        { class: "cnnviz-row" },
        live.el,
        h("div", { class: "cnnviz-side" }, h("div", { class: "cnnviz-options" }, kind.el), picker.el, unitGroup, classGroup, custom),
      ),
      units.el,
      h("div", { class: "cnnviz-options cnnviz-fv-batch" }, ...batch.map((f) => f.el), diversity.el),
      h("div", { class: "cnnviz-options cnnviz-fv-settings" }, ...settings.map((f) => f.el)),
      h(
        "details",
        { class: "cnnviz-fv-regularisers" },
        h("summary", {}, "Regularisers (decay, blur and clipping act on pixels: param = pixel)"),
        h("div", { class: "cnnviz-options" }, ...regularisers.map((f) => f.el)),
      ),
      h("div", { class: "cnnviz-fv-buttons" }, start, resume, reset, progress.el),
    ),
  );
  const stop = listen(model, {
    kind: showKind,
    batch: showKind,
    batch_mode: showKind,
    busy: showButtons,
    step: showButtons,
    class_label: showLabel,
    image: showPhoto,
  });
  return () => {
    stop();
    for (const part of [banner, progress, images, notice, live, picker, units, predictions, ...fields]) part.dispose();
  };
}
