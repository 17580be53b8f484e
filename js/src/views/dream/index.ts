/**
 * DeepDream's view, in the photo shell: the dream over the photo with a before/after divider (stage), the octave and
 * the layer's norm after each octave under it; beside it what to amplify (its settings, the layer picker while a
 * layer or channel is amplified, the class's name while a class is); the octave, step and strength settings below,
 * grouped as the schema says; Start and Resume with Stop and progress at the end.
 */
import type { AnyModel } from "@anywidget/types";
import { h, show } from "../../core/dom";
import type { Scope } from "../../core/scope";
import type { DreamTraits } from "../../core/traits";
import { beforeAfter } from "../../components/beforeAfter";
import { layerPicker } from "../../components/layerPicker";
import { traitForm } from "../../components/settingsForm";
import { octaveLine } from "../../logic/dream";
import { photoShell } from "../../shells/photo";
import { runBar } from "../../shells/stream";

const OBJECTIVE = "objective";

export function renderDream(scope: Scope, model: AnyModel<DreamTraits>, el: HTMLElement): void {
  const shell = photoShell(scope, model);
  const objective = traitForm(scope, model, { prefix: "cnnviz-dd", options: (schema) => schema.filter((d) => d.group === OBJECTIVE) });
  const settings = traitForm(scope, model, { prefix: "cnnviz-dd", options: (schema) => schema.filter((d) => d.group !== OBJECTIVE) });
  const picker = layerPicker(scope, model);
  const label = h("div", { class: "cnnviz-dd-class-label" });
  const octaves = h("div", { class: "cnnviz-note cnnviz-dd-octaves", "aria-live": "polite" });

  const showParts = () => {
    const wasHidden = picker.el.style.display === "none";
    show(picker.el, model.get("kind") !== "class_logit");
    if (wasHidden && picker.el.style.display === "") picker.shown();
    show(label, model.get("kind") === "class_logit");
    label.textContent = String(model.get("class_label") ?? "");
  };
  const showOctave = () => {
    const norms = (model.get("norms") ?? []).map(Number);
    octaves.textContent = octaveLine(Number(model.get("octave")), Number(model.get("octaves")), norms, Number(model.get("step")));
  };
  showParts();
  showOctave();
  scope.listen(model, { kind: showParts, class_label: showParts, octave: showOctave, norms: showOctave, step: showOctave, octaves: showOctave });

  shell.mount(el, {
    stage: h("div", { class: "cnnviz-dd-stage" }, beforeAfter(scope, model, "deepdream.png"), octaves),
    side: [h("div", { class: "cnnviz-section cnnviz-dd-objective" }, objective.el, label), picker.el],
    below: [h("div", { class: "cnnviz-section cnnviz-dd-settings" }, settings.el)],
    footer: runBar(scope, model, { run: "Start", resume: true, started: () => Number(model.get("step")) > 0, watch: ["step"] }),
  });
}
