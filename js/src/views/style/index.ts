/**
 * StyleTransfer's and TextureSynthesis's view: the banner; the picture being optimised (live, then the PNG with
 * Download PNG), whose features and recipe are in use and what was done to the inputs under it; beside it the content
 * and style thumbnails with each style's weight in the blend, each style layer's weight and the settings; Start,
 * Resume and Stop with progress at the end. The loss curves are a plotly chart beside the view (`dashboard()`).
 */
import type { AnyModel } from "@anywidget/types";
import { h } from "../../core/dom";
import { announceResizes } from "../../core/resize";
import type { Scope } from "../../core/scope";
import { followTheme } from "../../core/theme";
import type { StyleTraits } from "../../core/traits";
import { errorBanner, showText } from "../../components/banner";
import { livePicture } from "../../components/livePicture";
import { traitForm } from "../../components/settingsForm";
import { runBar } from "../../shells/stream";
import { layerWeights, sourcePictures } from "./sources";

export function renderStyle(scope: Scope, model: AnyModel<StyleTraits>, el: HTMLElement): void {
  followTheme(scope, model);
  const texture = model.get("mode") === "texture";
  const settings = traitForm(scope, model, { prefix: "cnnviz-st", options: (schema) => schema });
  const recipe = h("div", { class: "cnnviz-note cnnviz-st-recipe" });
  showText(scope, model, "recipe", recipe);
  const notes = h("ul", { class: "cnnviz-note cnnviz-st-notes", "aria-live": "polite" });
  const showNotes = () => notes.replaceChildren(...(model.get("notes") ?? []).map((n) => h("li", {}, String(n))));
  showNotes();
  scope.listen(model, { notes: showNotes });
  const waiting = texture ? "Press Start: the texture grows here from noise." : "Press Start: the picture takes on the style here.";
  const root = h(
    "div",
    { class: `cnnviz cnnviz-style cnnviz-style-${texture ? "texture" : "transfer"}` },
    errorBanner(scope, model),
    h(
      "div",
      { class: "cnnviz-main" },
      h("div", { class: "cnnviz-stage cnnviz-st-stage" }, livePicture(scope, model, texture ? "texture.png" : "style-transfer.png", waiting), recipe, notes),
      h("div", { class: "cnnviz-side" }, sourcePictures(scope, model), layerWeights(scope, model), h("div", { class: "cnnviz-section" }, settings.el)),
    ),
    runBar(scope, model, { run: "Start", resume: true, started: () => Number(model.get("step")) > 0, watch: ["step"] }),
  );
  el.append(root);
  announceResizes(scope, root);
}
