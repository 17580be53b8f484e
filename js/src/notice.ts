/**
 * Fit notice: a quiet line under the photo saying what fitting it to the model's square input did to its shape
 * (the `notice` trait, e.g. "squashed from 300×200 to 224×224: the aspect ratio changed; ..."); hidden when empty.
 */
import type { AnyModel } from "@anywidget/types";
import { h, showText } from "./ui";

export function fitNotice(model: AnyModel): { el: HTMLElement; dispose: () => void } {
  const el = h("div", { class: "cnnviz-notice", role: "note" });
  return { el, dispose: showText(model, "notice", el) };
}
