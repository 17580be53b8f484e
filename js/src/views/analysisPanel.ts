/**
 * "Is this map faithful?": buttons that ask Python for a sanity check (model randomisation) and for
 * deletion/insertion curves, the sanity maps as a strip of small heat-maps captioned with the layer
 * randomised down to and the rank correlation with the original, and the curves' areas as text.
 */
import type { AnyModel } from "@anywidget/types";
import { aucText, sanityCaption, type CurvesResult, type SanityResult } from "../analysis";
import { decodeArray, unstack } from "../arrays";
import type { MethodDesc } from "../options";
import { heatCanvas, type HeatCanvas, type Look } from "../overlayCanvas";
import { h, listen } from "../ui";

export function analysisPanel(model: AnyModel, look: Look): { el: HTMLElement; redraw: () => void; dispose: () => void } {
  let canvases: HeatCanvas[] = [];
  const heading = h("div", { class: "cnnviz-heading" });
  const strip = h("div", { class: "cnnviz-sanity-strip" });
  const auc = h("div", { class: "cnnviz-auc" });
  const title = (name: string) => ((model.get("methods") ?? []) as MethodDesc[]).find((m) => m.name === name)?.title ?? name;

  const drawSanity = () => {
    const result = (model.get("sanity") ?? {}) as Partial<SanityResult>;
    const maps = decodeArray(result.maps);
    const steps = maps && result.names ? unstack(maps) : [];
    heading.textContent = steps.length
      ? `Sanity check of ${title(result.method!)}: its map as the model is randomised from the top layer down (ρ: rank correlation with the original)`
      : "";
    canvases = steps.map((map) => {
      const heat = heatCanvas(look, { class: "cnnviz-sanity-canvas" });
      heat.setMap(map);
      return heat;
    });
    strip.replaceChildren(
      ...canvases.map((heat, i) => {
        const caption = sanityCaption(result.names![i], result.correlation![i]);
        return h("figure", { class: "cnnviz-sanity-step", title: caption }, heat.canvas, h("figcaption", {}, caption));
      }),
    );
  };
  const drawCurves = () => {
    const curves = (model.get("curves") ?? {}) as Partial<CurvesResult>;
    auc.textContent = curves.method ? aucText(curves as CurvesResult, title(curves.method)) : "";
  };
  drawSanity();
  drawCurves();

  const el = h(
    "div",
    { class: "cnnviz-analysis" },
    h(
      "div",
      { class: "cnnviz-analysis-buttons" },
      h("span", { class: "cnnviz-heading" }, "Is this map faithful?"),
      h("button", { class: "cnnviz-sanity", title: "Randomise the model layer by layer and recompute the map", onclick: () => model.send({ type: "sanity" }) }, "Sanity check"),
      h("button", { class: "cnnviz-faithfulness", title: "Delete / insert pixels in the map's order and watch the class probability", onclick: () => model.send({ type: "faithfulness" }) }, "Deletion / insertion"),
    ),
    heading,
    strip,
    auc,
  );
  return { el, redraw: () => canvases.forEach((c) => c.draw()), dispose: listen(model, { sanity: drawSanity, curves: drawCurves }) };
}
