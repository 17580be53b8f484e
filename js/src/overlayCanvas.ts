/**
 * Image-with-overlay canvas: draws a PNG picture with a colour-mapped heat-map over it. Opacity and colour
 * map are view-local (no kernel round-trip); hovering shows the map's value; "Download PNG" saves the canvas.
 */
import { decodeArray, type WireArray } from "./arrays";
import { COLORMAP_NAMES, lut } from "./colormap";
import { blend, mapIndex, normalize } from "./overlay";
import { h } from "./ui";

export interface OverlayCanvas {
  el: HTMLElement;
  setImage(png: DataView | null): Promise<void>;
  setHeatmap(wire: WireArray | null): void;
}

export function overlayCanvas(opts: { opacity: number; colormap: string; filename: string }): OverlayCanvas {
  let opacity = opts.opacity;
  let colormap = opts.colormap;
  let base: ImageData | null = null;
  let heat: { raw: Float32Array | Uint8Array; norm: Float32Array; h: number; w: number } | null = null;

  const canvas = h("canvas", { class: "cnnviz-canvas", width: 224, height: 224 });
  const ctx = canvas.getContext("2d", { willReadFrequently: true })!;
  const hover = h("div", { class: "cnnviz-hover" }, "\u00a0");
  const slider = h("input", {
    type: "range", min: 0, max: 1, step: 0.01, value: opacity, class: "cnnviz-opacity", "aria-label": "opacity",
  });
  const select = h(
    "select",
    { class: "cnnviz-colormap", "aria-label": "colour map" },
    ...COLORMAP_NAMES.map((n) => h("option", { value: n, selected: n === colormap }, n)),
  );
  const download = h("button", { class: "cnnviz-download" }, "Download PNG");

  const draw = () => {
    if (!base) {
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      return;
    }
    if (!heat) {
      ctx.putImageData(base, 0, 0);
      return;
    }
    const pixels = blend(base.data, base.width, base.height, heat.norm, heat.h, heat.w, lut(colormap), opacity);
    ctx.putImageData(new ImageData(pixels, base.width, base.height), 0, 0);
  };

  slider.addEventListener("input", () => {
    opacity = Number(slider.value);
    draw();
  });
  select.addEventListener("change", () => {
    colormap = select.value;
    draw();
  });
  canvas.addEventListener("mousemove", (ev) => {
    if (!heat || !base) return;
    const rect = canvas.getBoundingClientRect();
    const x = Math.floor(((ev.clientX - rect.left) * base.width) / rect.width);
    const y = Math.floor(((ev.clientY - rect.top) * base.height) / rect.height);
    const value = heat.raw[mapIndex(x, y, base.width, base.height, heat.h, heat.w)];
    hover.textContent = `(${x}, ${y}) value ${value.toPrecision(3)}`;
  });
  canvas.addEventListener("mouseleave", () => (hover.textContent = "\u00a0"));
  download.addEventListener("click", () => {
    canvas.toBlob((blob) => {
      if (!blob) return;
      const a = h("a", { href: URL.createObjectURL(blob), download: opts.filename });
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 1000);
    }, "image/png");
  });

  const el = h(
    "div",
    { class: "cnnviz-overlay" },
    canvas,
    hover,
    h("div", { class: "cnnviz-overlay-controls" }, h("label", {}, "opacity ", slider), h("label", {}, "colours ", select), download),
  );

  return {
    el,
    async setImage(png) {
      if (!png || png.byteLength === 0) {
        base = null;
        draw();
        return;
      }
      const bytes = new Uint8Array(png.buffer as ArrayBuffer, png.byteOffset, png.byteLength);
      const bitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
      canvas.width = bitmap.width;
      canvas.height = bitmap.height;
      ctx.drawImage(bitmap, 0, 0);
      base = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
      draw();
    },
    setHeatmap(wire) {
      const arr = decodeArray(wire);
      heat = arr && arr.shape.length === 2 ? { raw: arr.data, norm: normalize(arr.data), h: arr.shape[0], w: arr.shape[1] } : null;
      draw();
    },
  };
}
