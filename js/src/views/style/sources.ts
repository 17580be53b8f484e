/** The pictures a style transfer starts from: the content photo's thumbnail, and each style picture's (or texture's)
 * with its weight in the blend and its share in percent; the weights edit the `style_weights` trait. */
import type { AnyModel } from "@anywidget/types";
import { h } from "../../core/dom";
import type { Scope } from "../../core/scope";
import { save, type StyleTraits } from "../../core/traits";
import { settingsForm } from "../../components/settingsForm";
import { shares, styleLabels, weightFields, weightIndex, withWeight } from "../../logic/style";
import { pictures, thumb } from "../datasets/pictures";

const PREFIX = "w";

export function sourcePictures(scope: Scope, model: AnyModel<StyleTraits>): HTMLElement {
  const urls = pictures(scope);
  const cells = h("div", { class: "cnnviz-st-sources" });
  const weights = () => (model.get("style_weights") ?? []).map(Number);
  let syncs: (() => void)[] = [];

  const draw = () => {
    urls.clear();
    const sources = model.get("sources") ?? {};
    const styles = sources.styles ?? [];
    const labels = styleLabels(String(model.get("mode")), styles.length);
    const content = sources.content ? [thumb(urls.url(sources.content), "content", { cls: "cnnviz-st-source" })] : [];
    const many = styles.length > 1;
    const fields = weightFields(PREFIX, labels.map(() => "weight"), "this picture's weight in the blend of the styles' statistics");
    syncs = [];
    const figures = styles.map((data, i) => {
      const share = h("span", { class: "cnnviz-st-share" });
      const form = settingsForm({
        options: () => [fields[i]],
        get: () => weights()[i],
        set: (name, value) => save(model, "style_weights", withWeight(weights(), weightIndex(PREFIX, name), Number(value))),
        prefix: "cnnviz-st-weight",
      });
      syncs.push(() => {
        form.sync();
        share.textContent = many ? shares(weights())[i] : "";
      });
      const figure = thumb(urls.url(data), labels[i], { cls: "cnnviz-st-source" });
      if (many) figure.append(form.el, share);
      return figure;
    });
    cells.replaceChildren(...content, ...figures);
    syncs.forEach((fn) => fn());
  };
  draw();
  scope.listen(model, { sources: draw, mode: draw, style_weights: () => syncs.forEach((fn) => fn()) });
  return h("section", { class: "cnnviz-section", "aria-label": "source pictures" }, cells);
}

/** A weight field per style layer, editing the `layer_weights` trait. */
export function layerWeights(scope: Scope, model: AnyModel<StyleTraits>): HTMLElement {
  const weights = () => (model.get("layer_weights") ?? []).map(Number);
  const form = settingsForm({
    options: () => weightFields(PREFIX, (model.get("style_layers") ?? []).map(String), "how much this layer's Gram matrix counts", "style layers"),
    get: (name) => weights()[weightIndex(PREFIX, name)],
    set: (name, value) => save(model, "layer_weights", withWeight(weights(), weightIndex(PREFIX, name), Number(value))),
    prefix: "cnnviz-st-layer",
  });
  scope.listen(model, { style_layers: form.rebuild, layer_weights: form.sync });
  return h("div", { class: "cnnviz-section cnnviz-st-layers" }, form.el);
}
