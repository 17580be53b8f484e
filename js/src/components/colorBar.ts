/**
 * Colour bar: the colour map's gradient, the values at its two ends (in the map's own units, as the overlay
 * normalises them: see logic/overlay.ts) and what the map measures as its caption.
 */
import { h } from "../core/dom";
import { gradientCss } from "../logic/colormap";
import { rangeLabels, type ColorRange } from "../logic/overlay";

export interface ColorBar {
  el: HTMLElement;
  /** Show the range of a map drawn with `colormap`; null hides the bar's numbers (no map). */
  set(range: ColorRange | null, colormap: string, quantity?: string): void;
}

export function colorBar(opts: { compact?: boolean } = {}): ColorBar {
  const strip = h("div", { class: "cnnviz-colorbar-strip", role: "img" });
  const low = h("span", { class: "cnnviz-colorbar-low" });
  const high = h("span", { class: "cnnviz-colorbar-high" });
  const caption = h("div", { class: "cnnviz-colorbar-caption" });
  const el = h(
    "div",
    { class: `cnnviz-colorbar${opts.compact ? " cnnviz-colorbar-compact" : ""}` },
    strip,
    h("div", { class: "cnnviz-colorbar-ends" }, low, high),
    caption,
  );
  let shown = "";
  return {
    el,
    set(range, colormap, quantity = "") {
      el.classList.toggle("cnnviz-empty", !range);
      if (shown !== colormap) strip.style.background = gradientCss((shown = colormap));
      const ends = range ? rangeLabels(range) : { low: "", high: "" };
      low.textContent = ends.low;
      high.textContent = ends.high;
      caption.textContent = quantity;
      strip.setAttribute("aria-label", range ? `colour scale from ${ends.low} to ${ends.high}: ${quantity}` : "colour scale");
    },
  };
}
