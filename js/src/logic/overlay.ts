/** Heat-map overlay arithmetic, kept free of the DOM so it can be unit-tested. */
import { colorOf } from "./colormap";

/** Share of pixels whose |value| sets the colour scale; the brightest 0.5% saturate instead of one outlier
 * pixel darkening the whole map (gradient maps are sparse and heavy-tailed). */
export const CLIP_QUANTILE = 0.995;

/** The |value| at CLIP_QUANTILE: it maps to the top of the colour scale (0 for an all-zero or empty map). */
export function scaleOf(data: ArrayLike<number>): number {
  const magnitudes: number[] = [];
  for (let i = 0; i < data.length; i++) {
    const a = Math.abs(data[i]);
    if (Number.isFinite(a)) magnitudes.push(a);
  }
  if (magnitudes.length === 0) return 0;
  const sorted = Float64Array.from(magnitudes).sort();
  const scale = sorted[Math.max(0, Math.ceil(CLIP_QUANTILE * sorted.length) - 1)];
  return scale === 0 ? sorted[sorted.length - 1] : scale;
}

/** Scale so the |value| at CLIP_QUANTILE maps to 1, clamping beyond it (all-zero maps stay zero). */
export function normalize(data: ArrayLike<number>, scale: number = scaleOf(data)): Float32Array {
  const out = new Float32Array(data.length);
  if (scale === 0) return out;
  for (let i = 0; i < data.length; i++) out[i] = Math.max(-1, Math.min(1, data[i] / scale));
  return out;
}

/**
 * What a colour bar shows for a map: the value at its low end (0: the colour map's first colour; negative values
 * clamp to it) and at its high end (the scale: larger values saturate), and whether values lie beyond each end.
 */
export interface ColorRange {
  low: number;
  high: number;
  belowLow: boolean;
  aboveHigh: boolean;
}

export function colorRange(data: ArrayLike<number>, scale: number = scaleOf(data)): ColorRange {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < data.length; i++) {
    if (Number.isFinite(data[i])) {
      min = Math.min(min, data[i]);
      max = Math.max(max, data[i]);
    }
  }
  return { low: 0, high: scale, belowLow: min < 0, aboveHigh: max > scale };
}

/** A map value for captions: three significant digits, exponent form for very small or large ones. */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e5) return v.toExponential(2).replace(/\.?0+e/, "e").replace("e+", "e");
  return String(Number(v.toPrecision(3)));
}

/** The colour bar's end labels: "≤ 0" when negative values clamp to the low end, "≥ 1.2" when values saturate. */
export function rangeLabels(r: ColorRange): { low: string; high: string } {
  return { low: `${r.belowLow ? "≤ " : ""}${formatValue(r.low)}`, high: `${r.aboveHigh ? "≥ " : ""}${formatValue(r.high)}` };
}

/** Index into an (h, w) map for pixel (x, y) of a (width, height) picture, nearest neighbour. */
export function mapIndex(x: number, y: number, width: number, height: number, h: number, w: number): number {
  const mx = Math.min(w - 1, Math.max(0, Math.floor((x * w) / width)));
  const my = Math.min(h - 1, Math.max(0, Math.floor((y * h) / height)));
  return my * w + mx;
}

/**
 * Blend a colour-mapped heat-map over an RGBA picture: out = (1 - opacity) * base + opacity * colour.
 * `heat` is (h, w) in [0, 1] and may be smaller than the picture; NaN (not computed yet, e.g. a partial
 * occlusion map) leaves the picture bare; alpha stays opaque.
 */
export function blend(
  base: Uint8ClampedArray,
  width: number,
  height: number,
  heat: Float32Array,
  h: number,
  w: number,
  table: Uint8ClampedArray,
  opacity: number,
): Uint8ClampedArray<ArrayBuffer> {
  const out = new Uint8ClampedArray(width * height * 4);
  const a = Math.min(1, Math.max(0, opacity));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 4;
      const value = heat[mapIndex(x, y, width, height, h, w)];
      const k = Number.isNaN(value) ? 0 : a;
      const [r, g, b] = colorOf(value, table);
      out[p] = (1 - k) * base[p] + k * r;
      out[p + 1] = (1 - k) * base[p + 1] + k * g;
      out[p + 2] = (1 - k) * base[p + 2] + k * b;
      out[p + 3] = 255;
    }
  }
  return out;
}

/** The colour-mapped heat-map alone, RGBA at the map's own (h, w) resolution: a blend at full opacity. */
export function colorize(heat: Float32Array, h: number, w: number, table: Uint8ClampedArray): Uint8ClampedArray<ArrayBuffer> {
  return blend(new Uint8ClampedArray(h * w * 4), w, h, heat, h, w, table, 1);
}
