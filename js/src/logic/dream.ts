/** DeepDream's pure logic: where the before/after divider sits, how the keys move it, and the octave line. */

/** The divider's position (0: all "after", 1: all "before") for a pointer at `clientX` over a box from `left`, `width` wide. */
export function dividerAt(clientX: number, left: number, width: number): number {
  if (!(width > 0)) return 0.5;
  return Math.min(1, Math.max(0, (clientX - left) / width));
}

/** The divider moved by a key (arrows by `step`, Home / End to the ends); null for a key that does not move it. */
export function nudged(fraction: number, key: string, step = 0.05): number | null {
  const moves: Record<string, number> = { ArrowLeft: fraction - step, ArrowRight: fraction + step, Home: 0, End: 1 };
  if (!(key in moves)) return null;
  return Math.min(1, Math.max(0, moves[key]));
}

/** "octave 2/4" and the amplified layer's norm after each finished octave, e.g. "norm 12.3 → 15.1 → 20.4". */
export function octaveLine(octave: number, octaves: number, norms: number[], step: number): string {
  if (step === 0 && norms.length === 0) return "";
  const where = `octave ${Math.min(octave + 1, octaves)}/${octaves}`;
  const shown = norms.map((n) => (Math.abs(n) >= 100 ? n.toFixed(0) : n.toPrecision(3)));
  return shown.length ? `${where} · layer norm after each octave: ${shown.join(" → ")}` : where;
}
