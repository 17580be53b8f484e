/** FoolingImage's pure parts: which labels match what the class search was given, the class a typed text names, and
 * how the magnified change is captioned. */

export interface ClassMatch {
  index: number;
  label: string;
}

/** A class as the search shows it: "1 · goldfish". */
export function classText(index: number, label: string): string {
  return `${index} · ${label}`;
}

/**
 * The classes whose label contains every word of `query` (case-insensitive), those whose label starts with the query
 * first, then by index; a whole number also matches its class index (listed first). At most `limit`.
 */
export function classMatches(labels: readonly string[], query: string, limit = 8): ClassMatch[] {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  const found: ClassMatch[] = [];
  const number = /^\d+$/.test(q) ? Number(q) : -1;
  if (number >= 0 && number < labels.length) found.push({ index: number, label: labels[number] });
  const words = q.split(/\s+/);
  const starts: ClassMatch[] = [];
  const contains: ClassMatch[] = [];
  labels.forEach((label, index) => {
    const l = label.toLowerCase();
    if (index === number || !words.every((w) => l.includes(w))) return;
    (l.startsWith(q) ? starts : contains).push({ index, label });
  });
  return [...found, ...starts, ...contains].slice(0, limit);
}

/** The class a text names: a whole number in range, "12 · label" as the search shows it, or a label typed in full
 * (any case); null otherwise. */
export function parseClass(labels: readonly string[], text: string): number | null {
  const t = text.trim();
  const lead = /^(\d+)(\s*·.*)?$/.exec(t);
  if (lead) {
    const index = Number(lead[1]);
    return index < labels.length ? index : null;
  }
  const lower = t.toLowerCase();
  const index = labels.findIndex((l) => l.toLowerCase() === lower);
  return index >= 0 ? index : null;
}

/** The change picture's caption: how many times it is magnified (3 significant digits) and its largest change, in
 * grey levels: "change ×12.5, max 8.0/255". */
export function changeCaption(gain: number, maxChange: number): string {
  const times = gain >= 100 ? Math.round(gain).toString() : gain.toPrecision(3).replace(/\.?0+$/, "");
  return `change ×${times}, max ${maxChange.toFixed(1)}/255`;
}
