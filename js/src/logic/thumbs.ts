/** FeatureVisualizer's pure parts: thumbnail levels and transparency, unit selection and the batch strip's cells. */

/** Each value's place between the map's smallest and largest finite value, in [0, 1]; a flat map is all 0. */
export function rescale(data: ArrayLike<number>): Float32Array {
  let low = Infinity;
  let high = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (Number.isFinite(v)) {
      low = Math.min(low, v);
      high = Math.max(high, v);
    }
  }
  const out = new Float32Array(data.length);
  const span = high - low;
  if (!(span > 0)) return out;
  for (let i = 0; i < data.length; i++) out[i] = Number.isFinite(data[i]) ? (data[i] - low) / span : 0;
  return out;
}

/** The largest finite value of a map (a channel's peak activation); -Infinity when it has none. */
export function peak(data: ArrayLike<number>): number {
  let high = -Infinity;
  for (let i = 0; i < data.length; i++) if (Number.isFinite(data[i])) high = Math.max(high, data[i]);
  return high;
}

/** `units` with `unit` added at the end, or removed if it was there (the "channels" batch picks). */
export function toggleUnit(units: number[], unit: number): number[] {
  return units.includes(unit) ? units.filter((u) => u !== unit) : [...units, unit];
}

/** Number of square pictures side by side in a `width` x `height` strip (a batch sent as one picture). */
export function stripCount(width: number, height: number): number {
  return height > 0 ? Math.max(1, Math.round(width / height)) : 0;
}

/**
 * `rgba` (a colour-mapped channel) made see-through where the channel is quiet: alpha runs from `floor` at the
 * channel's lowest value to opaque at its highest, so the photo under a thumbnail shows where the unit does not fire.
 */
export function activationAlpha<T extends Uint8ClampedArray>(rgba: T, levels: ArrayLike<number>, floor: number = 0.15): T {
  for (let i = 0; i < levels.length; i++) rgba[4 * i + 3] = Math.round(255 * (floor + (1 - floor) * levels[i]));
  return rgba;
}
