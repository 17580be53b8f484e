/** The class picker's logic: which labels a typed query matches (for the suggestions) and which class a typed text
 * names ("281", "281: tabby, tabby cat", or a label, ignoring case). */

/** How a suggestion reads: `281: tabby, tabby cat`. */
export function classText(labels: readonly string[], index: number): string {
  return `${index}: ${labels[index] ?? `class ${index}`}`;
}

/** Up to `limit` class indices whose label (or number) contains `query`, ignoring case: labels that start with it
 * first, then the others, each in index order. An empty query matches nothing. */
export function matchClasses(labels: readonly string[], query: string, limit = 20): number[] {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  const starts: number[] = [];
  const inside: number[] = [];
  labels.forEach((label, i) => {
    const text = label.toLowerCase();
    if (text.startsWith(q) || String(i) === q) starts.push(i);
    else if (text.includes(q) || classText(labels, i).toLowerCase().startsWith(q)) inside.push(i);
  });
  return [...starts, ...inside].slice(0, limit);
}

/** The class that `text` names: a number in range (alone or before ":"), or exactly one label (ignoring case);
 * `null` when it names none, or several. */
export function parseClass(labels: readonly string[], text: string): number | null {
  const t = text.trim();
  const number = /^(\d+)\s*(:.*)?$/.exec(t);
  if (number) {
    const i = Number(number[1]);
    return i < labels.length ? i : null;
  }
  const q = t.toLowerCase();
  const exact = labels.flatMap((label, i) => (label.toLowerCase() === q ? [i] : []));
  if (exact.length === 1) return exact[0];
  const matches = matchClasses(labels, t, 2);
  return exact.length === 0 && matches.length === 1 ? matches[0] : null;
}
