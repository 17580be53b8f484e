/** Lines bound to a text trait: the error banner (its × clears `error`) and quiet notes such as the fit notice. */
import type { AnyModel } from "@anywidget/types";
import { h, show } from "../core/dom";
import type { Scope } from "../core/scope";
import { save, type ObjectHash, type PhotoTraits, type ViewTraits } from "../core/traits";

/** Show the text trait `name` in `text`, and `el` only while that text is not empty. */
export function showText<T extends ObjectHash>(scope: Scope, model: AnyModel<T>, name: keyof T & string, el: HTMLElement, text: HTMLElement = el): void {
  const update = () => {
    const value = String(model.get(name) ?? "");
    text.textContent = value;
    show(el, Boolean(value));
  };
  update();
  scope.listen(model, { [name]: update } as { [K in keyof T & string]?: () => void });
}

/** The `error` banner; its × clears the trait (Python sees the change). */
export function errorBanner(scope: Scope, model: AnyModel<ViewTraits>): HTMLElement {
  const text = h("span", { class: "cnnviz-error-text" });
  const close = h("button", { class: "cnnviz-error-close", title: "Dismiss", "aria-label": "dismiss", onclick: () => save(model, "error", "") }, "×");
  const el = h("div", { class: "cnnviz-error", role: "alert" }, text, close);
  showText(scope, model, "error", el, text);
  return el;
}

/** What fitting the photo to the model's square input did to it (the `notice` trait); hidden when empty. */
export function fitNotice(scope: Scope, model: AnyModel<PhotoTraits>): HTMLElement {
  const el = h("div", { class: "cnnviz-notice", role: "note" });
  showText(scope, model, "notice", el);
  return el;
}
