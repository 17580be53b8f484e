/** LayerExplorer's pure parts: the channel order a sort gives, filter tiles packed into one picture, and the
 * invariance curves' SVG paths. */

/** Per channel of a layer, as Python sends them. */
export interface ChannelStats {
  layer: string;
  mean: number[];
  max: number[];
  active: number[];
}

export const SORTS = ["channel", "mean", "max", "active"] as const;
export type Sort = (typeof SORTS)[number];

/** Channels `0..count-1` in the order `sort` gives: by index, or by a statistic, largest first (ties by index). */
export function channelOrder(count: number, sort: Sort, stats: Partial<ChannelStats> | null): number[] {
  const order = Array.from({ length: count }, (_, i) => i);
  const values = sort === "channel" ? undefined : stats?.[sort];
  if (!values || values.length !== count) return order;
  return order.sort((a, b) => values[b] - values[a] || a - b);
}

/** Filter kinds, as `engine.kernels` names them. */
export type FilterKind = "rgb" | "grey" | "depthwise" | "matrix";

export interface Mosaic {
  data: Uint8ClampedArray<ArrayBuffer>;
  width: number;
  height: number;
  /** Where filter f's tile starts (its top-left pixel), for hover and labels. */
  origins: [number, number][];
  /** Each tile's size in pixels (height, width). */
  tile: [number, number];
}

/**
 * One picture of a page of filters, tiles 1 px apart on a transparent background (the page's colour shows):
 * `rgb` and `depthwise` tiles in a near-square grid; `grey` as one row per filter, one grey tile per input channel
 * (cs231n's "20 × 16 grey 7×7 images"); `matrix` (1×1 convolutions) as the signed (F, in) weight matrix, 0 mid grey.
 */
export function filterMosaic(data: ArrayLike<number>, shape: number[], kind: FilterKind): Mosaic {
  if (kind === "matrix") {
    const [f, c] = shape;
    let peak = 0;
    for (let i = 0; i < f * c; i++) peak = Math.max(peak, Math.abs(data[i]));
    const out = new Uint8ClampedArray(f * c * 4);
    for (let i = 0; i < f * c; i++) {
      const v = peak > 0 ? 0.5 + (0.5 * data[i]) / peak : 0.5;
      out.fill(Math.round(v * 255), i * 4, i * 4 + 3);
      out[i * 4 + 3] = 255;
    }
    return { data: out, width: c, height: f, origins: Array.from({ length: f }, (_, i) => [i, 0]), tile: [1, c] };
  }
  const [f, c, kh, kw] = shape;
  const colour = kind === "rgb";
  const columns = kind === "grey" ? c : Math.ceil(Math.sqrt(f));
  const perFilter = kind === "grey" ? c : 1;
  const rows = kind === "grey" ? f : Math.ceil(f / columns);
  const width = columns * (kw + 1) - 1;
  const height = rows * (kh + 1) - 1;
  const out = new Uint8ClampedArray(width * height * 4);
  const origins: [number, number][] = [];
  const plane = kh * kw;
  for (let n = 0; n < f; n++) {
    const [row, col] = kind === "grey" ? [n, 0] : [Math.floor(n / columns), n % columns];
    origins.push([row * (kh + 1), col * (kw + 1)]);
    for (let k = 0; k < perFilter; k++) {
      const top = row * (kh + 1);
      const left = (col + k) * (kw + 1);
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++) {
          const at = ((top + y) * width + left + x) * 4;
          for (let ch = 0; ch < 3; ch++) {
            const source = colour ? ch : kind === "grey" ? k : 0;
            out[at + ch] = Math.round(255 * data[(n * c + source) * plane + y * kw + x]);
          }
          out[at + 3] = 255;
        }
      }
    }
  }
  return { data: out, width, height, origins, tile: [kh, kw] };
}

export interface Box {
  width: number;
  height: number;
}

/** A finite value's range, padded when flat; [0, 1] when there is none. */
export function extent(values: number[]): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (!finite.length) return [0, 1];
  const low = Math.min(...finite);
  const high = Math.max(...finite);
  return low === high ? [low - 0.5, high + 0.5] : [low, high];
}

/** An SVG path through the points (xs[i], ys[i]) scaled from the ranges into `box` (y up); gaps at non-finite ys. */
export function curvePath(xs: number[], ys: number[], box: Box, xRange: [number, number], yRange: [number, number]): string {
  const sx = (x: number) => ((x - xRange[0]) / (xRange[1] - xRange[0] || 1)) * box.width;
  const sy = (y: number) => box.height - ((y - yRange[0]) / (yRange[1] - yRange[0] || 1)) * box.height;
  let path = "";
  let pen = false;
  xs.forEach((x, i) => {
    const y = ys[i];
    if (!Number.isFinite(y)) {
      pen = false;
      return;
    }
    path += `${pen ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`;
    pen = true;
  });
  return path;
}
