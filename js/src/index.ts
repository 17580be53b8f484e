/** The one ES module behind every cnnviz widget: `_view` names which view to render (one registry line each). */
import type { AnyModel } from "@anywidget/types";
import { mount } from "./core/scope";
import { renderClassvis } from "./views/classvis";
import { renderDatasets } from "./views/datasets";
import { renderDream } from "./views/dream";
import { renderFastStyle } from "./views/faststyle";
import { renderFeaturevis } from "./views/featurevis";
import { renderFooling } from "./views/fooling";
import { renderInversion } from "./views/inversion";
import { renderOcclusion } from "./views/occlusion";
import { renderLayers } from "./views/layers";
import { renderSaliency } from "./views/saliency";
import { renderStyle } from "./views/style";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const VIEWS: Record<string, (model: AnyModel<any>, el: HTMLElement) => () => void> = {
  saliency: mount(renderSaliency),
  occlusion: mount(renderOcclusion),
  featurevis: mount(renderFeaturevis),
  layers: mount(renderLayers),
  datasets: mount(renderDatasets),
  dream: mount(renderDream),
  classvis: mount(renderClassvis),
  fooling: mount(renderFooling),
  style: mount(renderStyle),
  inversion: mount(renderInversion),
  faststyle: mount(renderFastStyle),
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
