/** The dataset examples beside the optimised picture, as Distill's "Feature Visualization" shows them: the patches of
 * the model's latest scan that excite the unit most, each with its activation (its image's name in the tooltip),
 * or Python's note saying how to get them. */
import type { AnyModel } from "@anywidget/types";
import { h } from "../../core/dom";
import type { Scope } from "../../core/scope";
import type { FeaturevisTraits } from "../../core/traits";
import { exampleCaption, examplesState, exampleTitle } from "../../logic/examples";
import { pictures, thumb } from "../datasets/pictures";

export function examplesStrip(scope: Scope, model: AnyModel<FeaturevisTraits>): HTMLElement {
  const crops = pictures(scope);
  const cells = h("div", { class: "cnnviz-ds-cells cnnviz-fv-examples-cells" });
  const note = h("div", { class: "cnnviz-note cnnviz-fv-examples-note" });
  const el = h("section", { class: "cnnviz-fv-examples", "aria-label": "dataset examples" }, h("div", { class: "cnnviz-heading" }, "Dataset examples"), cells, note);

  const draw = () => {
    const ex = model.get("examples");
    const state = examplesState(ex, String(model.get("layer")), Number(model.get("unit")));
    crops.clear();
    el.hidden = state === null;
    if (state === null) return;
    if (state === "cropping") {
      cells.replaceChildren();
      note.textContent = `Cropping the dataset patches of ${model.get("layer")}:${model.get("unit")}…`;
      return;
    }
    const data = ex && "crops" in ex ? ex.crops : [];
    cells.style.setProperty("--cz-columns", String(Math.max(1, Math.ceil(Math.sqrt(state.items.length)))));
    cells.replaceChildren(...state.items.map((it, i) => thumb(crops.url(data[i]), exampleCaption(it), { title: exampleTitle(it) })));
    note.textContent = state.note;
  };
  draw();
  scope.listen(model, { examples: draw, layer: draw, unit: draw });
  return el;
}
