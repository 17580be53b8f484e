/** The one ES module behind every cnnviz widget: `_view` names which view to render. */
import type { AnyModel } from "@anywidget/types";
import { renderFeaturevis } from "./views/featurevis";
import { renderOcclusion } from "./views/occlusion";
import { renderSaliency } from "./views/saliency";

const VIEWS: Record<string, (model: AnyModel, el: HTMLElement) => () => void> = {
  saliency: renderSaliency,
  occlusion: renderOcclusion,
  featurevis: renderFeaturevis,
};

export default {
  render({ model, el }: { model: AnyModel; el: HTMLElement }) {
    const name = String(model.get("_view"));
    const view = VIEWS[name];
    if (!view) {
      el.textContent = `cnnviz_widgets: unknown view "${name}"; known views: ${Object.keys(VIEWS).join(", ")}`;
      return;
    }
    return view(model, el);
  },
};
