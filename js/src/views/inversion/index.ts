/**
 * FeatureInversion's view, in the photo shell: the photo and one reconstruction per layer side by side, captioned with
 * the layer and its PSNR (stage); beside them whose features these are (the model's name) and the layers to
 * reconstruct from (a checklist); the size, steps, smoothness and seed below, grouped as the schema says; Start and
 * Resume with Stop and progress at the end.
 */
import type { AnyModel } from "@anywidget/types";
import { h } from "../../core/dom";
import type { Scope } from "../../core/scope";
import type { InversionTraits } from "../../core/traits";
import { traitForm } from "../../components/settingsForm";
import { photoShell } from "../../shells/photo";
import { runBar } from "../../shells/stream";
import { layerChecklist } from "./checklist";
import { inversionPictures } from "./pictures";

export function renderInversion(scope: Scope, model: AnyModel<InversionTraits>, el: HTMLElement): void {
  const shell = photoShell(scope, model);
  const settings = traitForm(scope, model, { prefix: "cnnviz-inv", options: (schema) => schema });
  const about = h("div", { class: "cnnviz-inv-model" });
  const name = () => (about.textContent = `features of ${String(model.get("model_name") ?? "")}`);
  name();
  scope.listen(model, { model_name: name });
  shell.mount(el, {
    stage: inversionPictures(scope, model),
    side: [about, layerChecklist(scope, model)],
    below: [h("div", { class: "cnnviz-section cnnviz-inv-settings" }, settings.el)],
    footer: runBar(scope, model, { run: "Start", resume: true, started: () => Number(model.get("step")) > 0, watch: ["step"] }),
  });
}
