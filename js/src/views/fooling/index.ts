/**
 * FoolingImage's view, in the photo shell: the photo, the fooled picture and the change magnified side by side
 * (stage); beside them the class (searchable over the model's labels), the photo's top-5 and the fooled picture's
 * top-5 (click a row of either to make it the class); the settings below (mode, epsilon, steps, step size, seed, as
 * the schema says); Start, Resume and Stop with the progress at the end.
 */
import type { AnyModel } from "@anywidget/types";
import { h } from "../../core/dom";
import type { Scope } from "../../core/scope";
import type { FoolingTraits } from "../../core/traits";
import { classSearch } from "../../components/classSearch";
import { predictionList } from "../../components/predictions";
import { traitForm } from "../../components/settingsForm";
import { photoShell } from "../../shells/photo";
import { runBar } from "../../shells/stream";
import { foolingPictures } from "./pictures";

export function renderFooling(scope: Scope, model: AnyModel<FoolingTraits>, el: HTMLElement): void {
  const shell = photoShell(scope, model, { classHeading: "Top-5 of the photo: click one to make it the class" });
  const settings = traitForm(scope, model, { prefix: "cnnviz-fool", options: (schema) => schema });
  const now = predictionList(scope, model, "Top-5 of the fooled picture", "after");
  now.classList.add("cnnviz-fool-after");
  shell.mount(el, {
    stage: foolingPictures(scope, model, shell),
    side: [classSearch(scope, model, "make the model see"), shell.predictions, now],
    below: [h("div", { class: "cnnviz-section cnnviz-fool-settings" }, settings.el), shell.notice],
    footer: runBar(scope, model, { run: "Start", resume: true, started: () => Number(model.get("step")) > 0, watch: ["step"] }),
  });
}
