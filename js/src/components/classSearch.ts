/**
 * A class picker that searches the model's labels (the `labels` trait, with logic/classes): type a name or a class
 * number, then click a suggestion, or press Enter for the class the text names (else the first suggestion); the
 * choice is the `target` trait. A class Python refuses (one the model already predicts) comes back as the banner's
 * message, and the heading shows the class in use. The suggestions are elements of the view (not a datalist), so they
 * follow the theme. FoolingImage and ClassVisualizer share it.
 */
import type { AnyModel } from "@anywidget/types";
import { h } from "../core/dom";
import type { Scope } from "../core/scope";
import { save, type ViewTraits } from "../core/traits";
import { classText, matchClasses, parseClass } from "../logic/classes";

export interface ClassTraits extends ViewTraits {
  labels: string[];
  target: number;
}

export function classSearch(scope: Scope, model: AnyModel<ClassTraits>, heading = "class"): HTMLElement {
  // JupyterLab and Notebook 7 take Enter and Escape for their own cell shortcuts unless an element says otherwise.
  const own = { "data-lm-suppress-shortcuts": "true" };
  const input = h("input", { type: "search", class: "cnnviz-class-search", placeholder: "search classes…", "aria-label": "search classes", ...own });
  const list = h("div", { class: "cnnviz-class-suggestions", role: "listbox", "aria-label": "matching classes" });
  const current = h("span", { class: "cnnviz-class-current" });
  const labels = () => model.get("labels") ?? [];

  const pick = (index: number) => {
    input.value = "";
    list.replaceChildren();
    save(model, "target", index);
  };
  const suggest = () => {
    const typed = input.value.trim();
    const matches = matchClasses(labels(), typed, 8);
    list.replaceChildren(
      ...matches.map((i) =>
        h("div", { class: "cnnviz-class-suggestion", role: "option", "data-index": i, onclick: () => pick(i) }, classText(labels(), i)),
      ),
      ...(typed && !matches.length ? [h("div", { class: "cnnviz-empty-note" }, `no class matches “${typed}”`)] : []),
    );
  };
  input.addEventListener("input", suggest);
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") {
      input.value = "";
      suggest();
    }
    if (ev.key !== "Enter") return;
    const index = parseClass(labels(), input.value) ?? matchClasses(labels(), input.value, 1)[0];
    if (index !== undefined) pick(index);
  });
  const draw = () => {
    current.textContent = classText(labels(), Number(model.get("target")));
  };
  draw();
  scope.listen(model, { target: draw, labels: draw });
  return h("div", { class: "cnnviz-section cnnviz-class-search-box" }, h("div", { class: "cnnviz-heading" }, `${heading}: `, current), input, list);
}
