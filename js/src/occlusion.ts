/** OcclusionExplorer's pure parts: reading its setting fields and captioning the occluded-image preview. */
import type { WireBytes } from "./codec";
import { parseNumber } from "./options";

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

/** A baseline typed in its field: a number, or the trimmed text as a name (Python checks the name); null when empty. */
export function parseBaseline(raw: string): number | string | null {
  const text = raw.trim();
  if (text === "") return null;
  return parseNumber(text) ?? text;
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
