/**
 * "Is this map faithful?": buttons that run a sanity check (model randomisation) and deletion/insertion curves;
 * the sanity maps as a strip of small heat-maps, each captioned with its rank correlation ρ (always visible) and
 * the layer randomised down to, with its colour bar; the curves' areas as text.
 */
import type { AnyModel } from "@anywidget/types";
import { decodeArray, unstack } from "../../core/arrays";
import { h } from "../../core/dom";
import { send } from "../../core/requests";
import type { Scope } from "../../core/scope";
import type { SaliencyTraits } from "../../core/traits";
import { colorBar } from "../../components/colorBar";
import { heatCanvas, type HeatCanvas, type Look } from "../../components/heat";
import { aucText, sanityCaption, type CurvesResult, type SanityResult } from "../../logic/analysis";

export function analysisPanel(scope: Scope, model: AnyModel<SaliencyTraits>, look: Look): { el: HTMLElement; redraw: () => void } {
  let canvases: HeatCanvas[] = [];
  const heading = h("div", { class: "cnnviz-note" });
  const strip = h("div", { class: "cnnviz-sanity-strip" });
  const auc = h("div", { class: "cnnviz-auc" });
  const method = (name: string) => (model.get("methods") ?? []).find((m) => m.name === name);

  const drawSanity = () => {
    const result = (model.get("sanity") ?? {}) as Partial<SanityResult>;
    const maps = decodeArray(result.maps);
    const steps = maps && result.names ? unstack(maps) : [];
    const m = method(result.method ?? "");
    heading.textContent = steps.length
      ? `Sanity check of ${m?.title ?? result.method}: its map (${m?.quantity ?? "attribution"}) as the model is randomised from the top layer down; ρ: rank correlation with the original`
      : "";
    const figures = steps.map((map, i) => {
      const bar = colorBar({ compact: true });
      const heat = heatCanvas(look, { class: "cnnviz-sanity-canvas" }, bar);
      heat.setMap(map);
      const caption = sanityCaption(result.names![i], result.correlation![i]);
      const fig = h(
        "figure",
        { class: "cnnviz-sanity-step", title: `${caption.layer} · ${caption.rho}` },
        heat.canvas,
        bar.el,
        h("figcaption", {}, h("strong", { class: "cnnviz-rho" }, caption.rho), h("span", { class: "cnnviz-sanity-layer" }, caption.layer)),
      );
      return { heat, fig };
    });
    canvases = figures.map((f) => f.heat);
    strip.replaceChildren(...figures.map((f) => f.fig));
  };
  const drawCurves = () => {
    const curves = (model.get("curves") ?? {}) as Partial<CurvesResult>;
    auc.textContent = curves.method ? aucText(curves as CurvesResult, method(curves.method)?.title ?? curves.method) : "";
  };
  drawSanity();
  drawCurves();
  scope.listen(model, { sanity: drawSanity, curves: drawCurves });

  const button = (cls: string, what: "sanity" | "faithfulness", label: string, title: string) =>
    h("button", { class: cls, title, onclick: () => send(model, { type: "run", what }) }, label);
  const el = h(
    "div",
    { class: "cnnviz-section cnnviz-analysis" },
    h(
      "div",
      { class: "cnnviz-analysis-buttons" },
      h("span", { class: "cnnviz-heading" }, "Is this map faithful?"),
      button("cnnviz-sanity", "sanity", "Sanity check", "Randomise the model layer by layer and recompute the map"),
      button("cnnviz-faithfulness", "faithfulness", "Deletion / insertion", "Delete / insert pixels in the map's order and watch the class probability"),
    ),
    heading,
    strip,
    auc,
  );
  return { el, redraw: () => canvases.forEach((c) => c.draw()) };
}
