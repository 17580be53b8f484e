/** The neighbours tab: the query (the image in focus, or an uploaded picture), the dataset images nearest to it in a
 * layer's pooled features, and below them those nearest in raw pixels: what the layer finds alike beyond colour and
 * layout. Clicking a neighbour makes it the query. */
import type { AnyModel } from "@anywidget/types";
import { h } from "../../core/dom";
import type { Scope } from "../../core/scope";
import { save, type DatasetsTraits, type NeighbourRow, type NeighboursResult } from "../../core/traits";
import { distanceText, focusText, itemText } from "../../logic/datasets";
import { uploadControl } from "../../components/imagePicker";
import { pictures, thumb, waiting } from "./pictures";

/** A select of the layers with pooled features (`summary.embed`), bound to the `space` trait. */
export function spaceSelect(scope: Scope, model: AnyModel<DatasetsTraits>, label: string): HTMLElement {
  const select = h("select", { class: "cnnviz-ds-space", "aria-label": label });
  const draw = () => {
    const space = String(model.get("space") ?? "");
    const embed = model.get("summary")?.embed ?? [];
    const names = embed.includes(space) || !space ? embed : [space, ...embed];
    select.replaceChildren(...names.map((n) => h("option", { value: n }, n)));
    select.value = space;
  };
  select.addEventListener("change", () => save(model, "space", select.value));
  draw();
  scope.listen(model, { space: draw, summary: draw });
  return h("label", { class: "cnnviz-field" }, h("span", { class: "cnnviz-field-label" }, label), select);
}

export function neighboursPanel(scope: Scope, model: AnyModel<DatasetsTraits>, pick: (item: number) => void): HTMLElement {
  const urls = pictures(scope);
  const about = h("div", { class: "cnnviz-note" });
  const query = h("div", { class: "cnnviz-ds-query" });
  const rows = h("div", { class: "cnnviz-ds-rows", "data-lm-suppress-shortcuts": "true" });

  const current = (): NeighboursResult | null => {
    const n = model.get("neighbours");
    const matches = n && "features" in n && n.item === model.get("item") && n.space === model.get("space") && n.metric === model.get("metric");
    return matches ? (n as NeighboursResult) : null;
  };
  const row = (heading: string, found: NeighbourRow[], metric: string, item: number) =>
    h(
      "div",
      { class: "cnnviz-section" },
      h("div", { class: "cnnviz-heading" }, heading),
      h("div", { class: "cnnviz-ds-strip" }, ...found.map((r) =>
        thumb(urls.url(r.image), distanceText(r.distance, metric), { item: r.item, title: `${itemText(r.item, r.name)}: ${metric} distance ${r.distance}`, selected: r.item === item, pick }),
      )),
    );
  const draw = () => {
    urls.clear();
    const item = Number(model.get("item"));
    const space = String(model.get("space"));
    const focus = model.get("focus");
    const shown = focus && "image" in focus && focus.item === item ? focus : null;
    query.replaceChildren(
      ...(shown ? [h("span", { class: "cnnviz-field-label" }, "query"), thumb(urls.url(shown.image), "", { title: shown.name }), h("span", { class: "cnnviz-note" }, focusText(shown))] : []),
    );
    const n = current();
    const metric = String(model.get("metric") ?? "");
    about.textContent =
      item === -1
        ? "Pick a query: click a top patch, a neighbour or a point in the embedding chart, or upload a picture."
        : n
          ? `Top: the ${n.features.length} dataset images whose ${space} features are nearest to the query (${metric} distance); below: the nearest in raw pixels. Where the rows differ, the layer sees likeness that colour and layout do not. Click one to make it the query.`
          : waiting(model, `Finding the nearest images in ${space} and in pixels…`);
    rows.replaceChildren(...(n ? [row(`nearest in ${space} features`, n.features, n.metric, item), row("nearest in pixels", n.pixels, n.metric, item)] : []));
  };
  draw();
  const missing = () => void (current() || draw());
  scope.listen(model, { neighbours: draw, item: draw, space: draw, metric: draw, focus: draw, busy: missing, summary: missing });
  const tools = h("div", { class: "cnnviz-toolbar" }, spaceSelect(scope, model, "features of"), uploadControl(model, "find the neighbours of a picture of your own (up to 20 MB)"));
  return h("div", { class: "cnnviz-tab-panel", "data-tab": "neighbours" }, about, tools, query, rows);
}
