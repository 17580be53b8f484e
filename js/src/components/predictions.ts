/** Top-k list used as the class picker: each row a radio (the selected one marked and outlined), its probability
 * as a thin bar under the label; clicking a row makes it the `target`. */
import type { AnyModel } from "@anywidget/types";
import { h } from "../core/dom";
import type { Scope } from "../core/scope";
import { save, type PhotoTraits } from "../core/traits";

export function predictionList(scope: Scope, model: AnyModel<PhotoTraits>, heading = "Top-5: click a class to explain it"): HTMLElement {
  const list = h("ol", { class: "cnnviz-predictions", role: "radiogroup", "aria-label": "class" });
  const draw = () => {
    const target = Number(model.get("target"));
    list.replaceChildren(
      ...(model.get("predictions") ?? []).map((r) => {
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
  scope.listen(model, { predictions: draw, target: draw });
  return h("div", { class: "cnnviz-section cnnviz-class-picker" }, h("div", { class: "cnnviz-heading" }, heading), list);
}
