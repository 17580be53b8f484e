/** DatasetExplorer's pure parts: which unit of the layer overview a click or an arrow key lands on, where the current
 * unit's cell is, and the words for the scan's summary, activations, distances, the image in focus and a selection. */
import { formatValue } from "./overlay";

/** The scan as Python sends it in the `summary` trait. */
export interface ScanSummary {
  total: number;
  scanned: number;
  failed: number;
  failures: string[];
  layers: string[];
  embed: string[];
  classes: string[];
  complete: boolean;
}

/** The layer overview's sprite: `count` cells of `cell` px, `columns` per row (the last row may be short). */
export interface Sprite {
  count: number;
  cell: number;
  columns: number;
}

export function spriteRows(s: Sprite): number {
  return s.columns > 0 ? Math.ceil(s.count / s.columns) : 0;
}

/**
 * The unit under a click at (`x`, `y`) px inside the sprite drawn `width` × `height` px on screen (it may be scaled);
 * null outside it or on the empty end of the last row.
 */
export function spriteCell(s: Sprite, x: number, y: number, width: number, height: number): number | null {
  const rows = spriteRows(s);
  if (!rows || width <= 0 || height <= 0 || x < 0 || y < 0 || x >= width || y >= height) return null;
  const column = Math.floor((x * s.columns) / width);
  const row = Math.floor((y * rows) / height);
  const unit = row * s.columns + column;
  return unit < s.count ? unit : null;
}

/** Where `unit`'s cell lies in the sprite, in percent of its width and height (for the marker); null when absent. */
export function cellPercent(s: Sprite, unit: number): { left: number; top: number; width: number; height: number } | null {
  const rows = spriteRows(s);
  if (!rows || !Number.isInteger(unit) || unit < 0 || unit >= s.count) return null;
  return { left: (100 * (unit % s.columns)) / s.columns, top: (100 * Math.floor(unit / s.columns)) / rows, width: 100 / s.columns, height: 100 / rows };
}

/** The unit an arrow key moves to from `unit` in the sprite (left/right by one, up/down by a row); null: not ours. */
export function stepUnit(s: Sprite, unit: number, key: string): number | null {
  const by = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -s.columns, ArrowDown: s.columns }[key];
  if (by === undefined || s.count <= 0) return null;
  const next = unit + by;
  return next < 0 || next >= s.count ? unit : next;
}

/** Thousands separated by thin spaces (the same in every locale). */
export function count(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f");
}

/** "1 image", "3 images", "2 classes". */
export function plural(n: number, word: string): string {
  return `${count(n)} ${word}${n === 1 ? "" : word.endsWith("s") ? "es" : "s"}`;
}

/** The summary line: how much is scanned, how many were skipped, the classes; `busy`: a scan is running. */
export function summaryText(s: Partial<ScanSummary> | null | undefined, busy: boolean): string {
  if (!s || s.total === undefined) return "";
  const total = s.total ?? 0;
  if (!total) return "The dataset holds no readable image.";
  const parts = [`${count(s.scanned ?? 0)}/${plural(total, "image")} scanned`];
  if (s.complete) parts[0] += " (complete)";
  else if (!busy) parts[0] += (s.scanned ?? 0) > 0 ? " (stopped: Scan resumes)" : " (press Scan)";
  if (s.failed) parts.push(`${count(s.failed)} skipped`);
  const classes = s.classes?.length ?? 0;
  if (classes || (s.scanned ?? 0) > 0) parts.push(classes ? plural(classes, "class") : "no labels");
  return parts.join(" · ");
}

/** The skipped files' reasons as a tooltip: the first ones Python sends, and how many more there are. */
export function failuresText(s: Partial<ScanSummary> | null | undefined): string {
  const reasons = s?.failures ?? [];
  const more = (s?.failed ?? 0) - reasons.length;
  return [...reasons, ...(more > 0 ? [`… and ${count(more)} more`] : [])].join("\n");
}

/** An activation value: three significant digits. */
export function activationText(value: number): string {
  return formatValue(value);
}

/** A neighbour's distance with the metric's short name: "cos 0.123", "L2 4.56". */
export function distanceText(distance: number, metric: string): string {
  const name = metric === "cosine" ? "cos" : metric === "l2" || metric === "euclidean" ? "L2" : metric;
  return `${name} ${formatValue(distance)}`.trim();
}

/** A probability as a percentage: "87%", "<1%". */
export function percentText(p: number): string {
  if (!Number.isFinite(p)) return "";
  const pct = 100 * p;
  return pct > 0 && pct < 1 ? "<1%" : `${Math.round(pct)}%`;
}

/** The image in focus, as Python sends it in the `focus` trait. */
export interface FocusInfo {
  item: number;
  name: string;
  label?: string;
  predicted?: string;
  confidence?: number;
}

/** Dataset image `item` by its index and name: "#3 cat.png", or just "#38" when its name is that index already (images
 * without a file name are named "#i"). */
export function itemText(item: number, name: string | undefined): string {
  const index = `#${item}`;
  return !name || name === index ? index : `${index} ${name}`;
}

/** The caption under the image in focus: its name, true label and the network's prediction. */
export function focusText(f: Partial<FocusInfo> | null | undefined): string {
  if (!f || f.item === undefined || f.item === -1) return "";
  const parts = [f.item >= 0 ? itemText(f.item, f.name) : (f.name ?? "uploaded picture")];
  parts.push(f.label ? `label: ${f.label}` : f.item >= 0 ? "no label" : "");
  if (f.predicted) parts.push(`predicted: ${f.predicted}${f.confidence === undefined ? "" : ` (${percentText(f.confidence)})`}`);
  return parts.filter(Boolean).join(" · ");
}

/** "12 selected", or "120 selected, first 48 shown" when Python sends only some. */
export function selectionText(total: number, shown: number): string {
  if (!total) return "Nothing selected: lasso some points in the chart.";
  return shown < total ? `${count(total)} selected, first ${count(shown)} shown` : `${count(total)} selected`;
}
