/** What DatasetExplorer's tabs share: PNG bytes from Python shown as <img> elements through object URLs (each set freed
 * when its panel redraws and when the view goes), the clickable thumbnail, and the words for a result not there yet. */
import type { AnyModel } from "@anywidget/types";
import { toBytes } from "../../core/codec";
import { h } from "../../core/dom";
import type { Scope } from "../../core/scope";
import type { DatasetsTraits } from "../../core/traits";

export interface Pictures {
  /** An object URL for encoded image bytes (either wire form); "" for an empty value. */
  url(data: unknown): string;
  /** Free every URL made so far (call before a redraw). */
  clear(): void;
}

export function pictures(scope: Scope): Pictures {
  let made: string[] = [];
  const clear = () => {
    made.forEach((u) => URL.revokeObjectURL(u));
    made = [];
  };
  scope.add(clear);
  return {
    url(data) {
      const bytes = toBytes(data);
      if (!bytes || !bytes.byteLength) return "";
      const url = URL.createObjectURL(new Blob([bytes], { type: "image/png" }));
      made.push(url);
      return url;
    },
    clear,
  };
}

/** A picture with a caption; a button when `pick` is given (it puts dataset image `item` in focus). */
export function thumb(src: string, caption: string, opts: { item?: number; title?: string; selected?: boolean; pick?: (item: number) => void; cls?: string } = {}): HTMLElement {
  const img = h("img", { src, alt: opts.title ?? caption, class: "cnnviz-ds-img", draggable: "false" });
  const body = [img, ...(caption ? [h("span", { class: "cnnviz-ds-caption" }, caption)] : [])];
  const cls = `cnnviz-ds-thumb${opts.cls ? ` ${opts.cls}` : ""}${opts.selected ? " cnnviz-selected" : ""}`;
  const { pick, item } = opts;
  if (!pick || item === undefined) return h("figure", { class: cls, title: opts.title }, ...body);
  return h("button", { class: cls, title: opts.title, "data-item": item, "aria-pressed": String(Boolean(opts.selected)), onclick: () => pick(item) }, ...body);
}

/** Mark the thumbnails under `el` that show dataset image `item` (without redrawing them). */
export function markItem(el: HTMLElement, item: number): void {
  el.querySelectorAll<HTMLElement>("[data-item]").forEach((b) => {
    const on = Number(b.dataset.item) === item;
    b.classList.toggle("cnnviz-selected", on);
    b.setAttribute("aria-pressed", String(on));
  });
}

/** What a panel says while its result is not there: scanning, nothing scanned, or being computed. */
export function waiting(model: AnyModel<DatasetsTraits>, computing: string): string {
  const summary = model.get("summary");
  const scanning = model.get("scanning") ?? (model.get("busy") && !summary?.complete);
  if (scanning) return "Scanning: the tabs fill in when the scan stops or ends.";
  return (summary?.scanned ?? 0) > 0 ? computing : "Nothing scanned yet: press Scan.";
}
