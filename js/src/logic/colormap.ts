/**
 * Colour maps as evenly spaced RGB stops (sampled from the well-known perceptual maps), expanded to
 * 256-entry lookup tables by linear interpolation.
 */
const STOPS: Record<string, string[]> = {
  inferno: ["#000004", "#1b0c41", "#4a0c6b", "#781c6d", "#a52c60", "#cf4446", "#ed6925", "#fb9b06", "#f7d13d", "#fcffa4"],
  viridis: ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"],
  jet: ["#00007f", "#0000ff", "#007fff", "#00ffff", "#7fff7f", "#ffff00", "#ff7f00", "#ff0000", "#7f0000"],
  gray: ["#000000", "#ffffff"],
};

export const COLORMAP_NAMES = Object.keys(STOPS);

function hexToRgb(hex: string): [number, number, number] {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

const cache = new Map<string, Uint8ClampedArray>();

/** 256 RGB triples for `name`; throws with the valid names for an unknown map. */
export function lut(name: string): Uint8ClampedArray {
  const hit = cache.get(name);
  if (hit) return hit;
  const stops = STOPS[name];
  if (!stops) throw new Error(`unknown colour map "${name}"; choose one of: ${COLORMAP_NAMES.join(", ")}`);
  const rgb = stops.map(hexToRgb);
  const table = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const pos = (i / 255) * (rgb.length - 1);
    const lo = Math.min(Math.floor(pos), rgb.length - 2);
    const t = pos - lo;
    for (let c = 0; c < 3; c++) table[i * 3 + c] = Math.round(rgb[lo][c] * (1 - t) + rgb[lo + 1][c] * t);
  }
  cache.set(name, table);
  return table;
}

/** The RGB colour of a value in [0, 1] (clamped; NaN maps to 0). */
export function colorOf(value: number, table: Uint8ClampedArray): [number, number, number] {
  const v = Number.isNaN(value) ? 0 : Math.min(1, Math.max(0, value));
  const i = Math.round(v * 255) * 3;
  return [table[i], table[i + 1], table[i + 2]];
}

/** A CSS linear-gradient, left to right, of the colour map (the colour bar's strip). */
export function gradientCss(name: string, stops: number = 16): string {
  const table = lut(name);
  const colours = Array.from({ length: stops }, (_, i) => {
    const [r, g, b] = colorOf(i / (stops - 1), table);
    return `rgb(${r}, ${g}, ${b}) ${((100 * i) / (stops - 1)).toFixed(1)}%`;
  });
  return `linear-gradient(to right, ${colours.join(", ")})`;
}
