/**
 * FastStyleTrainer's view: the banner; the held-out photo as the network being trained paints it (live, then the PNG
 * with Download PNG), whose features and recipe judge it and what it trains on under it; beside it the style and
 * held-out photo thumbnails, "Stylise a photo" (a sample or an upload, painted in one pass by the network as trained
 * so far), the settings and Download checkpoint (asked of Python, which answers with the file); Start, Resume and Stop
 * with progress at the end. The loss curves are a plotly chart beside the view (`dashboard()`).
 */
import type { AnyModel } from "@anywidget/types";
import { h, saveBlob, show } from "../../core/dom";
import { onAnswer, send } from "../../core/requests";
import { announceResizes } from "../../core/resize";
import type { Scope } from "../../core/scope";
import { followTheme } from "../../core/theme";
import type { FastStyleTraits } from "../../core/traits";
import { errorBanner, showText } from "../../components/banner";
import { uploadControl } from "../../components/imagePicker";
import { livePicture } from "../../components/livePicture";
import { traitForm } from "../../components/settingsForm";
import { runBar } from "../../shells/stream";
import { pictures, thumb } from "../datasets/pictures";

export function renderFastStyle(scope: Scope, model: AnyModel<FastStyleTraits>, el: HTMLElement): void {
  followTheme(scope, model);
  const settings = traitForm(scope, model, { prefix: "cnnviz-fs", options: (schema) => schema });
  const recipe = h("div", { class: "cnnviz-note cnnviz-st-recipe" });
  showText(scope, model, "recipe", recipe);
  const notes = h("ul", { class: "cnnviz-note cnnviz-st-notes", "aria-live": "polite" });
  const showNotes = () => notes.replaceChildren(...(model.get("notes") ?? []).map((n) => h("li", {}, String(n))));
  showNotes();
  scope.listen(model, { notes: showNotes });
  const waiting = "Press Start: the held-out photo takes on the style here as the network learns it.";
  const preview = livePicture(scope, model, "faststyle-preview.png", waiting);
  const root = h(
    "div",
    { class: "cnnviz cnnviz-faststyle" },
    errorBanner(scope, model),
    h(
      "div",
      { class: "cnnviz-main" },
      h("div", { class: "cnnviz-stage cnnviz-fs-stage" }, preview, recipe, notes),
      h("div", { class: "cnnviz-side" }, sources(scope, model), stylise(scope, model), h("div", { class: "cnnviz-section" }, settings.el), checkpoint(scope, model)),
    ),
    runBar(scope, model, { run: "Start", resume: true, started: () => Number(model.get("step")) > 0, watch: ["step"] }),
  );
  el.append(root);
  announceResizes(scope, root);
}

/** The style picture's and the held-out photo's thumbnails. */
function sources(scope: Scope, model: AnyModel<FastStyleTraits>): HTMLElement {
  const urls = pictures(scope);
  const cells = h("div", { class: "cnnviz-st-sources" });
  const draw = () => {
    urls.clear();
    const { style, preview } = model.get("sources") ?? {};
    const figures = [style ? thumb(urls.url(style), "style", { cls: "cnnviz-st-source" }) : null, preview ? thumb(urls.url(preview), "held-out photo", { cls: "cnnviz-st-source" }) : null];
    cells.replaceChildren(...figures.filter((f): f is HTMLElement => f !== null));
  };
  draw();
  scope.listen(model, { sources: draw });
  return h("section", { class: "cnnviz-section", "aria-label": "style and held-out photo" }, cells);
}

/** A sample or an uploaded photo, painted by the network as trained so far (the `stylised` trait). */
function stylise(scope: Scope, model: AnyModel<FastStyleTraits>): HTMLElement {
  const urls = pictures(scope);
  const buttons = (model.get("samples") ?? []).map((name) =>
    h("button", { class: "cnnviz-fs-sample", title: `paint the bundled ${name} photo`, onclick: () => send(model, { type: "sample", name }) }, name),
  );
  const img = h("img", { class: "cnnviz-fs-stylised", alt: "the photo painted in the style" });
  const draw = () => {
    urls.clear();
    const url = urls.url(model.get("stylised"));
    img.src = url;
    show(img, Boolean(url));
  };
  draw();
  scope.listen(model, { stylised: draw });
  const row = h("div", { class: "cnnviz-fs-try" }, ...buttons, uploadControl(model, "a photo of your own (up to 20 MB)"));
  return h("section", { class: "cnnviz-section cnnviz-fs-apply", "aria-label": "stylise a photo" }, h("div", { class: "cnnviz-note" }, "Stylise a photo in one pass:"), row, img);
}

/**
 * Download checkpoint: asks Python for the state dicts as `FastStyle.save` writes them (they never sit in the view's
 * state) and saves the file it answers with. Enabled once a step is trained.
 */
function checkpoint(scope: Scope, model: AnyModel<FastStyleTraits>): HTMLElement {
  const button = h("button", { class: "cnnviz-fs-checkpoint", title: "weights, optimiser and curves as trained so far (FastStyle.load reads it)" }, "Download checkpoint");
  const update = () => {
    button.disabled = !(Number(model.get("step")) > 0);
  };
  button.addEventListener("click", () => send(model, { type: "checkpoint" }));
  onAnswer(scope, model, "checkpoint", ({ content, attachments }) => {
    const name = typeof content.name === "string" ? content.name : "faststyle.pt";
    saveBlob(new Blob(attachments, { type: "application/octet-stream" }), name);
  });
  update();
  scope.listen(model, { step: update });
  return h("div", { class: "cnnviz-section cnnviz-look" }, button);
}
