/**
 * OcclusionExplorer's view, in the photo shell: the photo with the occlusion map (it fills in while Python computes
 * it; the hover names the window under the mouse by its grid row and column, as the captions do; a click selects
 * that window) beside the class picker, the window settings and the preview of the selected window; Run with Stop
 * and progress at the end.
 */
import type { AnyModel } from "@anywidget/types";
import { decodeArray } from "../../core/arrays";
import { h } from "../../core/dom";
import { send } from "../../core/requests";
import type { Scope } from "../../core/scope";
import type { HeatArray, OcclusionTraits } from "../../core/traits";
import { overlayView } from "../../components/overlay";
import { traitForm } from "../../components/settingsForm";
import { hoverText, windowAt } from "../../logic/occlusion";
import { photoShell } from "../../shells/photo";
import { runBar } from "../../shells/stream";
import { windowPreview } from "./preview";

export function renderOcclusion(scope: Scope, model: AnyModel<OcclusionTraits>, el: HTMLElement): void {
  const shell = photoShell(scope, model, { classHeading: "Top-5: click a class to occlude for it" });
  const heatmap = () => model.get("heatmap") as HeatArray | null;
  const overlay = overlayView({
    look: shell.look(),
    filename: "occlusion.png",
    below: shell.notice,
    onClick: (at) => send(model, { type: "select", y: at.y, x: at.x }),
    hover: (at) => {
      const grid = heatmap()?.grid ?? { window: model.get("window"), stride: model.get("stride") };
      return hoverText(windowAt(overlay.size(), grid.window, grid.stride, at.y, at.x), at.value);
    },
  });
  const preview = windowPreview(scope, model);
  const form = traitForm(scope, model, { prefix: "cnnviz-occlusion", options: (schema) => schema });
  const heat = () => {
    const map = heatmap();
    overlay.setMap(decodeArray(map), map?.quantity);
  };
  shell.onPhoto((base) => {
    overlay.setBase(base);
    preview.setBase(base);
  });
  heat();
  scope.listen(model, { heatmap: heat });

  shell.mount(el, {
    stage: overlay.el,
    side: [shell.predictions, h("div", { class: "cnnviz-section cnnviz-occlusion-settings" }, form.el), preview.el],
    footer: runBar(scope, model, { run: "Run" }),
  });
}
