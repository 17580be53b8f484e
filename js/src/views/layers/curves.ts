/** Invariance curves (Zeiler & Fergus, Fig. 5) as two small SVG charts: for each layer, the distance between the
 * photo's and the transformed photo's features (0 at the identity), and the probability of the photo's class. */
import type { AnyModel } from "@anywidget/types";
import { h } from "../../core/dom";
import type { Scope } from "../../core/scope";
import type { InvarianceResult, LayersTraits } from "../../core/traits";
import { traitForm } from "../../components/settingsForm";
import { curvePath, extent } from "../../logic/layers";

const SVG = "http://www.w3.org/2000/svg";
const BOX = { width: 300, height: 110 };
const PAD = { left: 40, bottom: 22, top: 6, right: 8 };
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];
const UNITS: Record<string, string> = { translate: "shift (pixels)", scale: "scale (×)", rotate: "rotation (degrees)" };

function svg(tag: string, attrs: Record<string, string | number>, ...children: Node[]): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

/** One chart: a line per series over `xs`, axis ranges written at the ends, a legend below. */
function chart(title: string, xs: number[], series: { name: string; ys: number[] }[], xLabel: string, yRange?: [number, number]): HTMLElement {
  const xr = extent(xs);
  const yr = yRange ?? extent(series.flatMap((s) => s.ys));
  const text = (x: number, y: number, s: string, anchor = "start") => svg("text", { x, y, "text-anchor": anchor, class: "cnnviz-chart-text" }, document.createTextNode(s));
  const plot = svg("g", { transform: `translate(${PAD.left},${PAD.top})` },
    svg("rect", { x: 0, y: 0, width: BOX.width, height: BOX.height, class: "cnnviz-chart-frame" }),
    ...series.map((s, i) => svg("path", { d: curvePath(xs, s.ys, BOX, xr, yr), stroke: COLOURS[i % COLOURS.length], fill: "none", "stroke-width": 2, "data-series": s.name })),
  );
  const figure = svg("svg", { viewBox: `0 0 ${BOX.width + PAD.left + PAD.right} ${BOX.height + PAD.top + PAD.bottom}`, class: "cnnviz-chart", role: "img", "aria-label": title },
    plot,
    text(PAD.left - 4, PAD.top + 10, yr[1].toPrecision(2), "end"),
    text(PAD.left - 4, PAD.top + BOX.height, yr[0].toPrecision(2), "end"),
    text(PAD.left, PAD.top + BOX.height + 16, String(xr[0])),
    text(PAD.left + BOX.width, PAD.top + BOX.height + 16, String(xr[1]), "end"),
    text(PAD.left + BOX.width / 2, PAD.top + BOX.height + 16, xLabel, "middle"),
  );
  const legend = h("div", { class: "cnnviz-legend" }, ...series.map((s, i) => h("span", { style: `--cz-swatch:${COLOURS[i % COLOURS.length]}` }, s.name)));
  return h("figure", { class: "cnnviz-chart-figure" }, h("figcaption", { class: "cnnviz-heading" }, title), figure, legend);
}

export function invariancePanel(scope: Scope, model: AnyModel<LayersTraits>): HTMLElement {
  const form = traitForm(scope, model, { prefix: "cnnviz-layers", options: (schema) => schema.filter((d) => d.group === "invariance") });
  const holder = h("div", { class: "cnnviz-invariance" });
  const draw = () => {
    const r = model.get("invariance") as Partial<InvarianceResult> | null;
    if (!r || !r.amounts || !r.distances || !r.layers || !r.probability) {
      holder.replaceChildren(h("div", { class: "cnnviz-note" }, model.get("busy") ? "transforming the photo…" : ""));
      return;
    }
    const xLabel = UNITS[r.transform ?? ""] ?? String(r.transform);
    holder.replaceChildren(
      chart("feature distance ‖f(x) − f(Tx)‖ / ‖f(x)‖", r.amounts, r.layers.map((name, i) => ({ name, ys: r.distances![i] })), xLabel),
      chart(`probability of “${r.label}”`, r.amounts, [{ name: r.label ?? "class", ys: r.probability }], xLabel, [0, 1]),
    );
  };
  draw();
  scope.listen(model, { invariance: draw, busy: draw });
  return h("div", { class: "cnnviz-tab-panel", "data-tab": "invariance" }, form.el, holder);
}
