/**
 * Form controls bound to one trait each: a text/number field, a checkbox and a select. Each shows the trait's
 * value, saves what the user enters, and follows changes made from Python. Range checks stay in Python, whose
 * error message names the valid range, so the view never silently clamps what a person typed.
 */
import type { AnyModel } from "@anywidget/types";
import { h, listen, save } from "./ui";

export interface Field {
  el: HTMLElement;
  dispose: () => void;
}

export interface FieldOptions {
  /** Class prefix: the control gets class `${prefix}-${name}` (tests and styles find it by that). */
  prefix: string;
  /** Text before the control; the trait's name by default. */
  label?: string;
  /** Tooltip of the whole field. */
  title?: string;
  /** Whether an empty field saves null (e.g. "centre" for a neuron's row and column). */
  optional?: boolean;
}

/**
 * A text field bound to a trait: saves what `parse` accepts (null: not a value) on Enter or when it loses focus
 * (Chromium fires no "change" on Enter in a field outside a form), and puts the value in use back otherwise.
 */
export function traitField(
  model: AnyModel,
  name: string,
  parse: (raw: string) => unknown,
  attrs: Record<string, string | number>,
  opts: FieldOptions,
): Field {
  const input = h("input", { ...attrs, class: `${opts.prefix}-${name}`, "aria-label": opts.label ?? name });
  const show = () => (input.value = String(model.get(name) ?? ""));
  const commit = () => {
    if (opts.optional && input.value.trim() === "") {
      save(model, name, null);
      return;
    }
    const value = parse(input.value);
    if (value === null) show();
    else save(model, name, value);
  };
  input.addEventListener("change", commit);
  input.addEventListener("keydown", (ev) => ev.key === "Enter" && commit());
  show();
  return { el: labelled(opts, name, input), dispose: listen(model, { [name]: show }) };
}

/** A checkbox bound to a boolean trait. */
export function traitCheckbox(model: AnyModel, name: string, opts: FieldOptions): Field {
  const input = h("input", { type: "checkbox", class: `${opts.prefix}-${name}`, "aria-label": opts.label ?? name });
  const show = () => (input.checked = Boolean(model.get(name)));
  input.addEventListener("change", () => save(model, name, input.checked));
  show();
  return { el: labelled(opts, name, input, true), dispose: listen(model, { [name]: show }) };
}

/** A select bound to a text trait, its choices read from `choices()` (redrawn when `choicesTrait` changes). */
export function traitSelect(
  model: AnyModel,
  name: string,
  choices: () => string[],
  opts: FieldOptions & { choicesTrait?: string },
): Field {
  const select = h("select", { class: `${opts.prefix}-${name}`, "aria-label": opts.label ?? name });
  const show = () => {
    const value = String(model.get(name) ?? "");
    const names = choices();
    select.replaceChildren(...(names.includes(value) ? names : [value, ...names]).map((c) => h("option", { value: c }, c)));
    select.value = value;
  };
  select.addEventListener("change", () => save(model, name, select.value));
  show();
  const handlers: Record<string, () => void> = { [name]: show };
  if (opts.choicesTrait) handlers[opts.choicesTrait] = show;
  return { el: labelled(opts, name, select), dispose: listen(model, handlers) };
}

function labelled(opts: FieldOptions, name: string, control: HTMLElement, after = false): HTMLElement {
  const text = `${opts.label ?? name}`;
  const attrs = { class: "cnnviz-option", title: opts.title };
  return after ? h("label", attrs, control, ` ${text}`) : h("label", attrs, `${text} `, control);
}
