/**
 * Pictures and heat-maps on canvases, shared by every view: image decoding (newest wins), the overlay `Look`
 * (opacity and colour map, read from the traits once and then kept in the browser), a canvas painting a picture
 * with a colour-mapped map over it (with its colour bar), and the controls that edit a Look.
 */
import type { AnyModel } from "@anywidget/types";
import type { NdArray } from "../core/arrays";
import { toBytes, type WireBytes } from "../core/codec";
import { h } from "../core/dom";
import type { PhotoTraits } from "../core/traits";
import { COLORMAP_NAMES, lut } from "../logic/colormap";
import { blend, colorize, colorRange, mapIndex, normalize, scaleOf, type ColorRange } from "../logic/overlay";
import type { ColorBar } from "./colorBar";

/** What the user changes about overlays without new computation; one object may drive many canvases. */
export interface Look {
  opacity: number;
  colormap: string;
}

/** The initial Look from the view's `opacity` and `colormap` traits (the browser keeps it from then on). */
export function lookOf(model: AnyModel<PhotoTraits>): Look {
  const colormap = String(model.get("colormap"));
  return { opacity: Number(model.get("opacity")), colormap: COLORMAP_NAMES.includes(colormap) ? colormap : "inferno" };
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

/** A decoder for one stream of pictures: `land` gets only the newest, whatever order the decodes finish in. */
export function newestImage(land: (pixels: ImageData | null) => void, type = "image/png"): (data: WireBytes | null | undefined) => Promise<void> {
  let latest = 0;
  return async (data) => {
    const mine = ++latest;
    const pixels = await decodeImage(data, type);
    if (mine === latest) land(pixels);
  };
}

/** A picture pixel under the mouse and the raw map value there (NaN where the map is not computed yet). */
export interface MapPoint {
  x: number;
  y: number;
  value: number;
}

export interface HeatCanvas {
  canvas: HTMLCanvasElement;
  /** The picture under the map (null: the map is drawn alone, at its own resolution). */
  setBase(base: ImageData | null): void;
  /** An (h, w) map, normalised for display (logic/overlay.ts), and what it measures; null removes it. */
  setMap(map: NdArray | null, quantity?: string): void;
  /** Repaint, e.g. after the shared Look changed. */
  draw(): void;
  /** Picture coordinates and raw map value under the mouse, or null when there is nothing to read. */
  valueAt(ev: MouseEvent): MapPoint | null;
  /** The picture's size (height, width), or the map's when drawn alone. */
  size(): [number, number];
}

/** A canvas painting `look` over a picture; `bar`, when given, shows the map's colour scale. */
export function heatCanvas(look: Look, attrs: { class: string; title?: string }, bar?: ColorBar): HeatCanvas {
  let base: ImageData | null = null;
  let heat: { raw: Float32Array | Uint8Array; norm: Float32Array; h: number; w: number; range: ColorRange; quantity: string } | null = null;
  const canvas = h("canvas", { ...attrs, width: 224, height: 224 });
  const ctx = canvas.getContext("2d")!;

  const draw = () => {
    bar?.set(heat && heat.range, look.colormap, heat?.quantity);
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
    setMap(map, quantity = "") {
      if (map && map.shape.length === 2) {
        const scale = scaleOf(map.data);
        heat = { raw: map.data, norm: normalize(map.data, scale), h: map.shape[0], w: map.shape[1], range: colorRange(map.data, scale), quantity };
      } else heat = null;
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
    size: () => [canvas.height, canvas.width],
  };
}

/** Opacity slider and colour-map select editing `look`; `changed` repaints whatever shares it. */
export function lookControls(look: Look, changed: () => void): HTMLElement {
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
  return h(
    "div",
    { class: "cnnviz-look" },
    h("label", { class: "cnnviz-field" }, h("span", { class: "cnnviz-field-label" }, "opacity"), slider),
    h("label", { class: "cnnviz-field" }, h("span", { class: "cnnviz-field-label" }, "colours"), select),
  );
}
