/** FeatureVisualizer's dataset examples, the pure parts: which of the examples Python sent belong to the unit now
 * chosen, and the words of an example's caption and tooltip. */
import { formatValue } from "./overlay";

/** One dataset example: the scanned image, its name, and the unit's activation at its peak. */
export interface ExampleItem {
  item: number;
  name: string;
  value: number;
}

/** The `examples` trait: a unit's top patches with a note, or a note alone ({} before Python has looked). */
export interface Examples {
  layer?: string;
  unit?: number;
  items?: ExampleItem[];
  crops?: unknown[];
  note?: string;
}

/** What the strip shows: the examples' items when they are of `layer`:`unit` ("cropping" while Python crops the
 * newly chosen unit's, so the last unit's are never shown as its), a note alone, or nothing. */
export function examplesState(ex: Examples | null | undefined, layer: string, unit: number): { items: ExampleItem[]; note: string } | "cropping" | null {
  if (!ex || ex.note === undefined) return null;
  if (!ex.items) return { items: [], note: ex.note };
  if (ex.layer !== layer || ex.unit !== unit) return "cropping";
  return { items: ex.items, note: ex.note };
}

/** An example's caption: its activation, e.g. "4.21". */
export function exampleCaption(it: ExampleItem): string {
  return formatValue(it.value);
}

/** An example's tooltip: "#12 cat/3.png: activation 4.21". */
export function exampleTitle(it: ExampleItem): string {
  return `#${it.item} ${it.name}: activation ${formatValue(it.value)}`;
}
