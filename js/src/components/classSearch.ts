/**
 * A class picker that searches the model's labels (the `labels` trait): type words or a class number, then click a
 * suggestion, or press Enter for the first one; the choice is the `target` trait. A class Python refuses (one the
 * model already predicts) comes back as the banner's message, and the heading shows the class in use.
 */
import type { AnyModel } from "@anywidget/types";
import { h } from "../core/dom";
import type { Scope } from "../core/scope";
import { save, type ViewTraits } from "../core/traits";
import { classMatches, classText, parseClass } from "../logic/classes";

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
    const matches = classMatches(labels(), typed);
    list.replaceChildren(
      ...matches.map((m) =>
        h("div", { class: "cnnviz-class-suggestion", role: "option", "data-index": m.index, onclick: () => pick(m.index) }, classText(m.index, m.label)),
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
    const index = parseClass(labels(), input.value) ?? classMatches(labels(), input.value)[0]?.index;
    if (index !== undefined) pick(index);
  });
  const draw = () => {
    const target = Number(model.get("target"));
    current.textContent = classText(target, labels()[target] ?? `class ${target}`);
  };
  draw();
  scope.listen(model, { target: draw, labels: draw });
  return h("div", { class: "cnnviz-section cnnviz-class-search-box" }, h("div", { class: "cnnviz-heading" }, `${heading}: `, current), input, list);
}
