/**
 * Image-with-overlay drawing, shared by the main view, the compare grid's cells and the sanity strip.
 *
 * `heatCanvas` paints one picture with a colour-mapped heat-map over it (or the heat-map alone) using a
 * `Look` object it shares with others; `lookControls` is the opacity slider and colour-map select that edit
 * such a Look (view-local: no kernel round-trip); `overlayCanvas` is the main canvas with those controls, a
 * hover read-out, "Download PNG" and an optional click handler (which map pixel was clicked).
 */
import type { NdArray } from "./arrays";
import { toBytes, type WireBytes } from "./codec";
import { COLORMAP_NAMES, lut } from "./colormap";
import { blend, colorize, mapIndex, normalize } from "./overlay";
import { h, saveBlob } from "./ui";

/** What the user changes about overlays without new computation; one object may drive many canvases. */
export interface Look {
  opacity: number;
  colormap: string;
}

/** Pixels of encoded image bytes, PNG or JPEG (a Bytes trait, either wire form); null for an empty trait. */
export async function decodeImage(data: WireBytes | null | undefined, type = "image/png"): Promise<ImageData | null> {
  const bytes = toBytes(data);
  if (!bytes || bytes.byteLength === 0) return null;
  const bitmap = await createImageBitmap(new Blob([bytes], { type }));
  const { width, height } = bitmap;
  const ctx = h("canvas", { width, height }).getContext("2d")!;
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return ctx.getImageData(0, 0, width, height);
}

/** A decoder for one stream of PNG pictures: `land` gets only the newest, whatever order the decodes finish in. */
export function newestImage(land: (pixels: ImageData | null) => void): (png: WireBytes | null | undefined) => Promise<void> {
  let latest = 0;
  return async (png) => {
    const mine = ++latest;
    const pixels = await decodeImage(png);
    if (mine === latest) land(pixels);
  };
}

export interface HeatCanvas {
  canvas: HTMLCanvasElement;
  /** The picture under the map (null: the map is drawn alone, at its own resolution). */
  setBase(base: ImageData | null): void;
  /** An (h, w) map, shown normalised by its largest magnitude; null removes it. */
  setMap(map: NdArray | null): void;
  /** Repaint, e.g. after the shared Look changed. */
  draw(): void;
  /** Picture coordinates and raw map value under the mouse, or null when there is nothing to read. */
  valueAt(ev: MouseEvent): MapPoint | null;
}

export function heatCanvas(look: Look, attrs: { class: string; title?: string }): HeatCanvas {
  let base: ImageData | null = null;
  let heat: { raw: Float32Array | Uint8Array; norm: Float32Array; h: number; w: number } | null = null;
  const canvas = h("canvas", { ...attrs, width: 224, height: 224 });
  const ctx = canvas.getContext("2d")!;

  const draw = () => {
    if (!base && !heat) {
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      return;
    }
    const width = base ? base.width : heat!.w;
    const height = base ? base.height : heat!.h;
    if (canvas.width !== width) canvas.width = width;
    if (canvas.height !== height) canvas.height = height;
    if (!heat) {
      ctx.putImageData(base!, 0, 0);
      return;
    }
    const table = lut(look.colormap);
    const pixels = base
      ? blend(base.data, width, height, heat.norm, heat.h, heat.w, table, look.opacity)
      : colorize(heat.norm, heat.h, heat.w, table);
    ctx.putImageData(new ImageData(pixels, width, height), 0, 0);
  };

  return {
    canvas,
    setBase(next) {
      base = next;
      draw();
    },
    setMap(map) {
      heat = map && map.shape.length === 2 ? { raw: map.data, norm: normalize(map.data), h: map.shape[0], w: map.shape[1] } : null;
      draw();
    },
    draw,
    valueAt(ev) {
      if (!heat) return null;
      const rect = canvas.getBoundingClientRect();
      const x = Math.min(canvas.width - 1, Math.max(0, Math.floor(((ev.clientX - rect.left) * canvas.width) / rect.width)));
      const y = Math.min(canvas.height - 1, Math.max(0, Math.floor(((ev.clientY - rect.top) * canvas.height) / rect.height)));
      return { x, y, value: heat.raw[mapIndex(x, y, canvas.width, canvas.height, heat.h, heat.w)] };
    },
  };
}

/** Opacity slider and colour-map select editing `look`; `changed` repaints whatever shares it. */
export function lookControls(look: Look, changed: () => void): HTMLElement[] {
  const slider = h("input", {
    type: "range", min: 0, max: 1, step: 0.01, value: look.opacity, class: "cnnviz-opacity", "aria-label": "opacity",
  });
  const select = h(
    "select",
    { class: "cnnviz-colormap", "aria-label": "colour map" },
    ...COLORMAP_NAMES.map((n) => h("option", { value: n, selected: n === look.colormap }, n)),
  );
  slider.addEventListener("input", () => {
    look.opacity = Number(slider.value);
    changed();
  });
  select.addEventListener("change", () => {
    look.colormap = select.value;
    changed();
  });
  return [h("label", {}, "opacity ", slider), h("label", {}, "colours ", select)];
}

export interface OverlayCanvas {
  el: HTMLElement;
  setBase(base: ImageData | null): void;
  setMap(map: NdArray | null): void;
}

/** A picture pixel under the mouse and the raw map value there (NaN where the map is not computed yet). */
export interface MapPoint {
  x: number;
  y: number;
  value: number;
}

/** The main canvas: picture + heat-map, its own Look controls, hover value, "Download PNG", and `onClick`. */
export function overlayCanvas(opts: {
  look: Look;
  filename: string;
  onLook?: () => void;
  onClick?: (at: MapPoint) => void;
  /** Shown right under the picture, e.g. the fit notice (notice.ts). */
  below?: HTMLElement;
}): OverlayCanvas {
  const heat = heatCanvas(opts.look, { class: "cnnviz-canvas" });
  const hover = h("div", { class: "cnnviz-hover" }, "\u00a0");
  const download = h("button", { class: "cnnviz-download" }, "Download PNG");

  heat.canvas.addEventListener("mousemove", (ev) => {
    const at = heat.valueAt(ev);
    if (at) hover.textContent = `(${at.x}, ${at.y}) ${Number.isNaN(at.value) ? "not computed yet" : `value ${at.value.toPrecision(3)}`}`;
  });
  heat.canvas.addEventListener("click", (ev) => {
    const at = heat.valueAt(ev);
    if (at && opts.onClick) opts.onClick(at);
  });
  heat.canvas.addEventListener("mouseleave", () => (hover.textContent = "\u00a0"));
  download.addEventListener("click", () => {
    heat.canvas.toBlob((blob) => blob && saveBlob(blob, opts.filename), "image/png");
  });
  const controls = lookControls(opts.look, () => {
    heat.draw();
    opts.onLook?.();
  });

  return {
    el: h("div", { class: "cnnviz-overlay" }, heat.canvas, ...(opts.below ? [opts.below] : []), hover, h("div", { class: "cnnviz-overlay-controls" }, ...controls, download)),
    setBase: heat.setBase,
    setMap: heat.setMap,
  };
}
