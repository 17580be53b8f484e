/**
 * Image picker: a select of the bundled samples showing the one loaded (the `sample` trait; "your picture" for
 * any other) and an upload button. Picks go to Python as requests, {type: "sample", name} or {type: "upload",
 * name} with the file's bytes. Files over the limit are refused here, with the reason in the banner.
 */
import type { AnyModel } from "@anywidget/types";
import { h } from "../core/dom";
import { send } from "../core/requests";
import type { Scope } from "../core/scope";
import { save, type PhotoTraits, type ViewTraits } from "../core/traits";
import { uploadProblem } from "../logic/files";

/** The Upload… button: the file goes to Python as {type: "upload", name} with its bytes; a file over the limit is
 * refused here, with the reason in the banner. */
export function uploadControl(model: AnyModel<ViewTraits>, title: string): HTMLElement {
  const upload = h("input", { type: "file", accept: "image/*", class: "cnnviz-upload", "aria-label": "upload an image" });
  upload.addEventListener("change", async () => {
    const file = upload.files?.[0];
    upload.value = "";
    if (!file) return;
    const problem = uploadProblem(file.name, file.size);
    if (problem) save(model, "error", problem);
    else send(model, { type: "upload", name: file.name }, await file.arrayBuffer());
  });
  return h("label", { class: "cnnviz-button cnnviz-upload-label", title }, "Upload…", upload);
}

export function imagePicker(scope: Scope, model: AnyModel<PhotoTraits>): HTMLElement {
  const samples = h("select", { class: "cnnviz-sample", "aria-label": "sample image" });
  const uploadButton = uploadControl(model, "a picture of your own (up to 20 MB)");

  const draw = () => {
    const current = String(model.get("sample") ?? "");
    samples.replaceChildren(
      h("option", { value: "", disabled: true }, model.get("image") ? "your picture" : "sample image…"),
      ...(model.get("samples") ?? []).map((name) => h("option", { value: name }, name)),
    );
    samples.value = current;
  };
  samples.addEventListener("change", () => {
    if (samples.value) send(model, { type: "sample", name: samples.value });
  });
  draw();
  scope.listen(model, { samples: draw, sample: draw, image: draw });
  return h("div", { class: "cnnviz-image-picker" }, h("span", { class: "cnnviz-field-label" }, "photo"), samples, uploadButton);
}
