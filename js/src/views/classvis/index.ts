/**
 * ClassVisualizer's view: the banner; the pictures being optimised (the recipes side by side, then the facets), each
 * captioned with its recipe, step and the model's probability of the class, with Download PNG; beside them the class
 * picker (searchable over the labels), the settings and a note on facets (whether the model's latest scan offers
 * them); Start, Resume and Stop with progress at the end.
 */
import type { AnyModel } from "@anywidget/types";
import { h } from "../../core/dom";
import { announceResizes } from "../../core/resize";
import type { Scope } from "../../core/scope";
import { followTheme } from "../../core/theme";
import type { ClassvisTraits } from "../../core/traits";
import { errorBanner, showText } from "../../components/banner";
import { classSearch } from "../../components/classSearch";
import { liveBatch } from "../../components/liveBatch";
import { traitForm } from "../../components/settingsForm";
import { runBar } from "../../shells/stream";

export function renderClassvis(scope: Scope, model: AnyModel<ClassvisTraits>, el: HTMLElement): void {
  followTheme(scope, model);
  const settings = traitForm(scope, model, { prefix: "cnnviz-cv", options: (schema) => schema });
  const label = h("div", { class: "cnnviz-cv-class-label" });
  const note = h("div", { class: "cnnviz-note cnnviz-cv-facets-note" });
  showText(scope, model, "class_label", label);
  showText(scope, model, "facets_note", note);
  const root = h(
    "div",
    { class: "cnnviz cnnviz-classvis" },
    errorBanner(scope, model),
    h(
      "div",
      { class: "cnnviz-main" },
      h("div", { class: "cnnviz-stage cnnviz-cv-pictures" }, liveBatch(scope, model, "class-visualization.png")),
      h("div", { class: "cnnviz-side" }, classSearch(scope, model), label, h("div", { class: "cnnviz-section" }, settings.el, note)),
    ),
    runBar(scope, model, { run: "Start", resume: true, started: () => Number(model.get("step")) > 0, watch: ["step"] }),
  );
  el.append(root);
  announceResizes(scope, root);
}
