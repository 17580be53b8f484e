/** FeatureInversion's pure logic: the chosen layers kept in network order, and how a strip of pictures splits. */

/**
 * `chosen` with `name` added (`on`) or removed, in the order of `order` (the network's layers, shallow to deep), so
 * the reconstructions stand from shallow to deep whatever order the boxes were ticked in; chosen names that `order`
 * lacks keep their place at the end.
 */
export function toggleLayer(chosen: readonly string[], name: string, on: boolean, order: readonly string[]): string[] {
  const set = new Set(chosen);
  if (on) set.add(name);
  else set.delete(name);
  const known = order.filter((n) => set.has(n));
  return [...known, ...[...set].filter((n) => !order.includes(n))];
}

/** The width of each of `count` pictures of equal size side by side in a strip `width` pixels wide (0: none). */
export function cellWidth(width: number, count: number): number {
  return count > 0 && width > 0 ? Math.floor(width / count) : 0;
}

/** The captions before a run: "photo", then each chosen layer waiting for Start. */
export function waitingCaptions(layers: readonly string[]): string[] {
  return ["photo", ...layers.map((layer) => `${layer} · press Start`)];
}
