/** OcclusionExplorer's pure parts: which window a pixel belongs to, the hover line, and the preview's captions. */
import type { WireBytes } from "../core/codec";
import { formatValue } from "./overlay";

/** The `occluded` trait: one clicked window, the picture with it covered, and both probabilities. */
export interface OccludedWindow {
  i: number;
  j: number;
  /** [top, bottom, left, right] in picture pixels, bottom/right exclusive. */
  box: [number, number, number, number];
  image: WireBytes;
  prob: number;
  clean_prob: number;
  target: number;
  label: string;
}

type Pair = number | [number, number];
const pair = (v: Pair): [number, number] => (Array.isArray(v) ? v : [v, v]);

/** Windows per column and per row: as many as fit, plus one clipped at the border (the engine's Grid.counts). */
export function windowCounts(size: [number, number], window: Pair, stride: Pair): [number, number] {
  const [w, s] = [pair(window), pair(stride)];
  return [0, 1].map((a) => Math.max(1, Math.ceil((size[a] - w[a]) / s[a]) + 1)) as [number, number];
}

/** The window covering pixel (y, x) whose centre is nearest to it: what a click selects (the engine's window_at). */
export function windowAt(size: [number, number], window: Pair, stride: Pair, y: number, x: number): [number, number] {
  const [w, s] = [pair(window), pair(stride)];
  const counts = windowCounts(size, window, stride);
  const nearest = (p: number, a: number) => {
    let best = 0;
    let bestKey: [number, number] = [1, Infinity];
    for (let k = 0; k < counts[a]; k++) {
      const start = k * s[a];
      const stop = Math.min(start + w[a], size[a]);
      const key: [number, number] = [start <= p && p < stop ? 0 : 1, Math.abs((start + stop) / 2 - (p + 0.5))];
      if (key[0] < bestKey[0] || (key[0] === bestKey[0] && key[1] < bestKey[1])) [best, bestKey] = [k, key];
    }
    return best;
  };
  return [nearest(y, 0), nearest(x, 1)];
}

/** The hover line: the window under the mouse in the captions' (row, column) and the map's value there. */
export function hoverText(ij: [number, number], value: number): string {
  const at = `window (${ij[0]}, ${ij[1]})`;
  return Number.isNaN(value) ? `${at}: not computed yet` : `${at}: score drop ${formatValue(value)}`;
}

/** A probability as a percentage with one decimal. */
export function percent(p: number): string {
  return `${(100 * p).toFixed(1)}%`;
}

/** Captions of the preview pair: the original's probability, and the covered window's with the change. */
export function previewCaptions(w: OccludedWindow): { original: string; occluded: string } {
  const change = 100 * (w.prob - w.clean_prob);
  const sign = change < 0 ? "−" : "+";
  return {
    original: `original: ${w.label} ${percent(w.clean_prob)}`,
    occluded: `window (${w.i}, ${w.j}) covered: ${percent(w.prob)} (${sign}${Math.abs(change).toFixed(1)} points)`,
  };
}
