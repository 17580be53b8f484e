/** The class picker: a text input searchable over the model's labels (suggestions as you type, by name or number);
 * Enter or leaving the field picks the class it names, and the field then shows that class. A text that names no
 * class, or several, is marked and says so in its tooltip; the class in use stays. */
import type { AnyModel } from "@anywidget/types";
import { h } from "../../core/dom";
import type { Scope } from "../../core/scope";
import { save, type ClassvisTraits } from "../../core/traits";
import { classText, matchClasses, parseClass } from "../../logic/classes";

export function classPicker(scope: Scope, model: AnyModel<ClassvisTraits>): HTMLElement {
  const id = `cnnviz-cv-classes-${Math.random().toString(36).slice(2)}`;
  const list = h("datalist", { id });
  const about = "type a class name or number; pick a suggestion, then Enter";
  const input = h("input", { class: "cnnviz-cv-class-input", type: "text", list: id, title: about, "aria-label": "class", "data-lm-suppress-shortcuts": true });
  const labels = () => model.get("labels") ?? [];
  const showTarget = () => {
    input.value = classText(labels(), Number(model.get("target")));
    input.classList.remove("cnnviz-invalid");
    input.title = about;
  };
  const suggest = () => {
    const found = matchClasses(labels(), input.value);
    list.replaceChildren(...found.map((i) => h("option", { value: classText(labels(), i) })));
  };
  const pick = () => {
    const index = parseClass(labels(), input.value);
    if (index === null) {
      const several = matchClasses(labels(), input.value, 2).length > 1;
      input.classList.add("cnnviz-invalid");
      input.title = several ? `"${input.value}" matches several classes: pick one of the suggestions` : `no class named "${input.value}"`;
      return;
    }
    if (index !== Number(model.get("target"))) save(model, "target", index);
    showTarget();
  };
  input.addEventListener("input", suggest);
  input.addEventListener("change", pick);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") pick();
    if (e.key === "Escape") showTarget();
  });
  showTarget();
  scope.listen(model, { target: showTarget, labels: showTarget });
  return h("label", { class: "cnnviz-cv-class" }, h("span", { class: "cnnviz-heading" }, "Class"), input, list);
}
