/**
 * The photo shell every photo view fills: the root element (class `cnnviz cnnviz-<view>`), the error banner, a
 * toolbar with the image picker, a main row (the stage, e.g. the picture with its overlay, beside a side column that
 * wraps under it when the cell is narrow), sections below, and the job bar at the end. It owns what every photo view
 * shares: the top-5 class picker, the fit notice, the overlay's initial Look, decoding the photo once for all its
 * users, following the page's theme, and telling the charts beside it when its width changes.
 */
import type { AnyModel } from "@anywidget/types";
import { h } from "../core/dom";
import { announceResizes } from "../core/resize";
import type { Scope } from "../core/scope";
import { followTheme } from "../core/theme";
import type { PhotoTraits } from "../core/traits";
import { errorBanner, fitNotice } from "../components/banner";
import { lookOf, newestImage, type Look } from "../components/heat";
import { imagePicker } from "../components/imagePicker";
import { predictionList } from "../components/predictions";

export interface PhotoShell {
  /** The top-5 class picker (placed by the view, usually first in the side column). */
  predictions: HTMLElement;
  /** The fit notice, to be placed under the picture. */
  notice: HTMLElement;
  /** A fresh Look from the traits (each group of canvases that shares controls gets its own). */
  look(): Look;
  /** Call `fn` with the decoded photo now (once decoded) and whenever it changes. */
  onPhoto(fn: (pixels: ImageData | null) => void): void;
  /** Put the parts in place inside `el`. */
  mount(el: HTMLElement, parts: { stage: HTMLElement; side: HTMLElement[]; below?: HTMLElement[]; footer: HTMLElement; toolbar?: HTMLElement[] }): void;
}

export function photoShell<T extends PhotoTraits>(scope: Scope, model: AnyModel<T>, opts: { classHeading?: string } = {}): PhotoShell {
  const photo = model as unknown as AnyModel<PhotoTraits>;
  followTheme(scope, photo);
  const users: ((pixels: ImageData | null) => void)[] = [];
  let pixels: ImageData | null = null;
  const decode = newestImage((next) => {
    pixels = next;
    users.forEach((fn) => fn(next));
  });
  const redecode = () => void decode(photo.get("image"));
  redecode();
  scope.listen(photo, { image: redecode });

  return {
    predictions: predictionList(scope, photo, opts.classHeading),
    notice: fitNotice(scope, photo),
    look: () => lookOf(photo),
    onPhoto(fn) {
      users.push(fn);
      if (pixels) fn(pixels);
    },
    mount(el, parts) {
      const root = h(
        "div",
        { class: `cnnviz cnnviz-${String(photo.get("_view"))}` },
        errorBanner(scope, photo),
        h("div", { class: "cnnviz-toolbar" }, imagePicker(scope, photo), ...(parts.toolbar ?? [])),
        h("div", { class: "cnnviz-main" }, h("div", { class: "cnnviz-stage" }, parts.stage), h("div", { class: "cnnviz-side" }, ...parts.side)),
        ...(parts.below ?? []),
        parts.footer,
      );
      el.append(root);
      announceResizes(scope, root);
    },
  };
}
