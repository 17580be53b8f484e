/** The clicked channel's strongest activation: the photo inside its receptive field beside the projection of that
 * activation back to the pixels (Zeiler & Fergus), with the projection rule to choose. */
import type { AnyModel } from "@anywidget/types";
import { h, show } from "../../core/dom";
import type { Scope } from "../../core/scope";
import type { LayersTraits, ProjectionResult } from "../../core/traits";
import { decodeImage } from "../../components/heat";
import { traitForm } from "../../components/settingsForm";
import { paint } from "./panels";

export function projectionPanel(scope: Scope, model: AnyModel<LayersTraits>): HTMLElement {
  const form = traitForm(scope, model, { prefix: "cnnviz-layers", options: (schema) => schema.filter((d) => d.group === "projection") });
  const picture = (which: string) => h("canvas", { class: "cnnviz-projection-image", "data-part": which, width: 1, height: 1 });
  const patch = picture("patch");
  const projected = picture("projection");
  const captions = [h("figcaption", {}, "the photo in its receptive field"), h("figcaption", {})];
  const pair = h("div", { class: "cnnviz-preview-pair" }, h("figure", {}, patch, captions[0]), h("figure", {}, projected, captions[1]));
  const hint = h("div", { class: "cnnviz-note" });
  let drawn = 0;
  const current = (): ProjectionResult | null => {
    const p = model.get("projection");
    return p && "image" in p && p.unit === model.get("unit") ? (p as ProjectionResult) : null;
  };
  const draw = async () => {
    const p = current();
    const ticket = ++drawn;
    show(pair, Boolean(p));
    const field = p ? `its receptive field: rows ${p.box[0]}–${p.box[2] - 1}, columns ${p.box[1]}–${p.box[3] - 1} (the box on the photo)` : "";
    hint.textContent = p
      ? p.value > 0
        ? `${p.layer}:${p.unit} fires most at (${p.y}, ${p.x}) with ${p.value.toPrecision(3)}; ${field}`
        : `${p.layer}:${p.unit} does not fire on this photo (its largest value is ${p.value.toPrecision(3)}, at (${p.y}, ${p.x})); ${field}`
      : Number(model.get("unit")) >= 0 ? "projecting…" : "Click a channel: its strongest activation is projected back to the pixels here.";
    if (!p) return;
    const [a, b] = await Promise.all([decodeImage(p.patch), decodeImage(p.image)]);
    if (ticket !== drawn) return;
    paint(patch, a);
    paint(projected, b);
    captions[1].textContent = `its ${p.rule === "deconvnet" ? "deconvnet" : "guided backprop"} projection (grey is 0)`;
  };
  void draw();
  scope.listen(model, { projection: () => void draw(), unit: () => void draw() });
  return h("div", { class: "cnnviz-section cnnviz-projection" }, h("div", { class: "cnnviz-heading" }, "strongest activation"), hint, pair, form.el);
}
