/** StyleTransfer's pure parts: the descriptors of its weight fields (one per style picture, one per style layer), a
 * weight list with one entry changed, each picture's share of the blend, and the thumbnails' captions. */
import type { OptionDesc } from "./schema";

/** Largest weight Python accepts (cnnviz_widgets/widgets/styling.py MAX_WEIGHT). */
export const MAX_WEIGHT = 1e7;

/** One number field per label, named `${prefix}${index}`, for weights in 0..MAX_WEIGHT. */
export function weightFields(prefix: string, labels: string[], help: string, group = ""): OptionDesc[] {
  return labels.map((label, i) => ({ name: `${prefix}${i}`, label, kind: "float", default: 1, low: 0, high: MAX_WEIGHT, choices: [], group, help }));
}

/** The index a weight field's name stands for; -1 for another name. */
export function weightIndex(prefix: string, name: string): number {
  if (!name.startsWith(prefix)) return -1;
  const rest = name.slice(prefix.length);
  return /^\d+$/.test(rest) ? Number(rest) : -1;
}

/** A copy of `weights` with entry `index` made `value` (an index outside the list changes nothing). */
export function withWeight(weights: number[], index: number, value: number): number[] {
  return weights.map((w, i) => (i === index ? value : w));
}

/** Each weight's share of their sum as a whole percentage ("25%"); "" for every one when they sum to 0. */
export function shares(weights: number[]): string[] {
  const total = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => (total > 0 ? `${Math.round((100 * w) / total)}%` : ""));
}

/** The style thumbnails' captions: "style 1", "style 2"…, or "texture" (numbered when there are several). */
export function styleLabels(mode: string, count: number): string[] {
  const word = mode === "texture" ? "texture" : "style";
  return Array.from({ length: count }, (_, i) => (count === 1 && word === "texture" ? word : `${word} ${i + 1}`));
}
