/**
 * Image picker: a select of the bundled samples (`samples` trait) and a file input. Picks go to Python as
 * messages, {type: "sample", name} or {type: "upload", name} with the file's bytes attached (see codec.ts).
 * Files over the limit are refused here, with the reason in the error banner, before any byte is sent.
 */
import type { AnyModel } from "@anywidget/types";
import { sendWithBytes } from "./codec";
import { uploadProblem } from "./files";
import { h, listen, save } from "./ui";

export function imageInput(model: AnyModel): { el: HTMLElement; dispose: () => void } {
  const samples = h("select", { class: "cnnviz-sample", "aria-label": "sample image" });
  const upload = h("input", { type: "file", accept: "image/*", class: "cnnviz-upload", "aria-label": "upload an image" });

  const drawSamples = () =>
    samples.replaceChildren(
      h("option", { value: "" }, "sample image…"),
      ...((model.get("samples") ?? []) as string[]).map((name) => h("option", { value: name }, name)),
    );
  samples.addEventListener("change", () => {
    if (samples.value) model.send({ type: "sample", name: samples.value });
    samples.value = "";
  });
  upload.addEventListener("change", async () => {
    const file = upload.files?.[0];
    upload.value = "";
    if (!file) return;
    const problem = uploadProblem(file.name, file.size);
    if (problem) save(model, "error", problem);
    else sendWithBytes(model, { type: "upload", name: file.name }, [await file.arrayBuffer()]);
  });
  drawSamples();

  const el = h("div", { class: "cnnviz-image-input" }, samples, h("label", { class: "cnnviz-upload-label" }, "upload ", upload));
  return { el, dispose: listen(model, { samples: drawSamples }) };
}
