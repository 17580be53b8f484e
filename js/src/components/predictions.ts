/** Top-k list used as the class picker: each row a radio (the selected one marked and outlined), its probability
 * as a thin bar under the label; clicking a row makes it the `target`. The rows are the `predictions` trait (the
 * photo's top-5) unless another trait of rows is named (FoolingImage's top-5 of the fooled picture). */
import type { AnyModel } from "@anywidget/types";
import { h } from "../core/dom";
import type { Scope } from "../core/scope";
import { save, type PhotoTraits, type PredictionRow } from "../core/traits";

export function predictionList(
  scope: Scope,
  model: AnyModel<PhotoTraits>,
  heading = "Top-5: click a class to explain it",
  trait = "predictions",
): HTMLElement {
  const rows = () => ((model as AnyModel).get(trait) ?? []) as PredictionRow[];
  const list = h("ol", { class: "cnnviz-predictions", role: "radiogroup", "aria-label": "class" });
  const draw = () => {
    const target = Number(model.get("target"));
    list.replaceChildren(
      ...rows().map((r) => {
        const selected = r.index === target;
        return h(
          "li",
          {
            class: `cnnviz-prediction${selected ? " cnnviz-selected" : ""}`,
            role: "radio",
            "aria-checked": String(selected),
            tabindex: 0,
            "data-index": r.index,
            title: `class ${r.index}`,
            onclick: () => save(model, "target", r.index),
            onkeydown: (ev: Event) => (ev as KeyboardEvent).key === "Enter" && save(model, "target", r.index),
          },
          h("span", { class: "cnnviz-prediction-mark", "aria-hidden": "true" }),
          h("span", { class: "cnnviz-prediction-label" }, r.label),
          h("span", { class: "cnnviz-prediction-prob" }, `${(100 * r.prob).toFixed(1)}%`),
          h("span", { class: "cnnviz-prediction-bar", style: `width:${(100 * r.prob).toFixed(1)}%` }),
        );
      }),
    );
  };
  draw();
  scope.listen(model as AnyModel, { [trait]: draw, target: draw });
  return h("div", { class: "cnnviz-section cnnviz-class-picker" }, h("div", { class: "cnnviz-heading" }, heading), list);
}
