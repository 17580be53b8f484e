/**
 * SaliencyExplorer's method picker: a button per method (pixel methods, then layer methods) and the current
 * method's options in the shared settings form, bound to `options[method][name]`.
 */
import type { AnyModel } from "@anywidget/types";
import { h } from "../../core/dom";
import type { Scope } from "../../core/scope";
import { save, type SaliencyTraits } from "../../core/traits";
import { settingsForm } from "../../components/settingsForm";
import { groupMethods, withOption, type MethodDesc } from "../../logic/schema";

export function currentMethod(model: AnyModel<SaliencyTraits>): MethodDesc | undefined {
  return (model.get("methods") ?? []).find((m) => m.name === model.get("method"));
}

export function methodPicker(scope: Scope, model: AnyModel<SaliencyTraits>): HTMLElement {
  const buttons = h("div", { class: "cnnviz-methods", role: "radiogroup", "aria-label": "method" });
  const options = () => model.get("options") ?? {};
  const method = () => String(model.get("method"));
  const form = settingsForm({
    options: () => (currentMethod(model)?.options ?? []).map((d) => ({ ...d, group: "" })),
    get: (name) => options()[method()]?.[name],
    set: (name, value) => value !== null && save(model, "options", withOption(options(), method(), name, value)),
    prefix: "cnnviz-option",
    attrs: (d) => ({ "data-method": method(), "data-option": d.name }),
    none: "",
  });
  const drawButtons = () => {
    buttons.replaceChildren(
      ...groupMethods(model.get("methods") ?? []).map((group) =>
        h(
          "div",
          { class: "cnnviz-method-group", "data-group": group.label },
          h("span", { class: "cnnviz-method-group-label" }, group.label),
          ...group.methods.map((m) =>
            h(
              "button",
              {
                class: `cnnviz-method${m.name === method() ? " cnnviz-selected" : ""}`,
                "data-method": m.name,
                role: "radio",
                "aria-checked": String(m.name === method()),
                title: m.quantity ?? m.name,
                onclick: () => save(model, "method", m.name),
              },
              m.title,
            ),
          ),
        ),
      ),
    );
  };
  const drawAll = () => {
    drawButtons();
    form.rebuild();
  };
  drawAll();
  scope.listen(model, { methods: drawAll, method: drawAll, options: form.sync });
  return h("div", { class: "cnnviz-section cnnviz-method-picker" }, h("div", { class: "cnnviz-heading" }, "method"), buttons, form.el);
}
