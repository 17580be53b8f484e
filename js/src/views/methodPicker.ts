/**
 * SaliencyExplorer's method picker: a button per method (titles from the `methods` trait, pixel methods
 * then layer methods) and the current method's options, drawn generically from their descriptions: a
 * number input with min/max for int/float, a select for a choice, a checkbox for a bool. Edits save a new
 * `options` dict.
 */
import type { AnyModel } from "@anywidget/types";
import {
  controlKind, controlValue, groupMethods, rangeHint, withOption, type MethodDesc, type OptionDesc, type Options,
} from "../options";
import { h, listen, save } from "../ui";

export function methodPicker(model: AnyModel): { el: HTMLElement; current: () => MethodDesc | undefined; dispose: () => void } {
  const buttons = h("div", { class: "cnnviz-methods", role: "radiogroup", "aria-label": "method" });
  const panel = h("div", { class: "cnnviz-options" });
  const methods = () => (model.get("methods") ?? []) as MethodDesc[];
  const current = () => methods().find((m) => m.name === String(model.get("method")));
  const options = () => (model.get("options") ?? {}) as Options;

  const drawButtons = () => {
    const selected = String(model.get("method"));
    buttons.replaceChildren(
      ...groupMethods(methods()).map((group) =>
        h(
          "div",
          { class: "cnnviz-method-group", "data-group": group.label },
          h("span", { class: "cnnviz-method-group-label" }, group.label),
          ...group.methods.map((m) =>
            h(
              "button",
              {
                class: `cnnviz-method${m.name === selected ? " cnnviz-selected" : ""}`,
                "data-method": m.name,
                role: "radio",
                "aria-checked": m.name === selected ? "true" : "false",
                title: m.name,
                onclick: () => save(model, "method", m.name),
              },
              m.title,
            ),
          ),
        ),
      ),
    );
  };

  const control = (method: string, desc: OptionDesc): HTMLInputElement | HTMLSelectElement => {
    const data = { "data-method": method, "data-option": desc.name, "aria-label": desc.label };
    const kind = controlKind(desc);
    if (kind === "select") return h("select", data, ...desc.choices.map((c) => h("option", { value: c }, c)));
    if (kind === "checkbox") return h("input", { ...data, type: "checkbox" });
    return h("input", { ...data, type: "number", min: desc.low, max: desc.high, step: desc.kind === "int" ? 1 : "any" });
  };

  // Controls keep their elements while the values change, so typing is never interrupted by a redraw.
  const syncValues = () => {
    for (const input of panel.querySelectorAll<HTMLInputElement | HTMLSelectElement>("[data-option]")) {
      const value = options()[input.dataset.method!]?.[input.dataset.option!];
      if (value === undefined) continue;
      if (input instanceof HTMLInputElement && input.type === "checkbox") input.checked = value === true;
      else input.value = String(value);
    }
  };

  const drawOptions = () => {
    const method = current();
    if (!method) {
      panel.replaceChildren();
      return;
    }
    if (method.options.length === 0) {
      panel.replaceChildren(h("span", { class: "cnnviz-options-none" }, `${method.title} has no options`));
      return;
    }
    panel.replaceChildren(
      ...method.options.map((desc) => {
        const input = control(method.name, desc);
        input.addEventListener("change", () => {
          const value = controlValue(desc, input);
          if (value === null) syncValues(); // not a number: put the value in use back
          else save(model, "options", withOption(options(), method.name, desc.name, value));
        });
        const hint = rangeHint(desc);
        return h("label", { class: "cnnviz-option", title: hint && `${desc.label}: ${hint}` }, `${desc.label} `, input);
      }),
    );
    syncValues();
  };

  const drawAll = () => {
    drawButtons();
    drawOptions();
  };
  drawAll();
  const el = h("div", { class: "cnnviz-method-picker" }, buttons, panel);
  return { el, current, dispose: listen(model, { methods: drawAll, method: drawAll, options: syncValues }) };
}
