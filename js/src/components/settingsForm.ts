/**
 * The settings form: renders any list of option descriptors (logic/schema.ts) grouped under headings, binds each
 * control through get/set functions (traits, or saliency's nested options dict alike), shows an option only while
 * its `when` rule holds, and checks every field as typed: an invalid field is marked, says the valid values (in
 * its title and beside it), and nothing is sent until it is valid again.
 */
import type { AnyModel } from "@anywidget/types";
import { h, show } from "../core/dom";
import type { Scope } from "../core/scope";
import { controlKind, controlValue, groupOptions, validText, visible, whenNames, type OptionDesc, type OptionValue } from "../logic/schema";

export interface FormBinding {
  /** The options to show, in display order (re-read by `rebuild`). */
  options: () => OptionDesc[];
  get: (name: string) => unknown;
  set: (name: string, value: OptionValue | null) => void;
  /** Class prefix: each control gets class `${prefix}-${name}`. */
  prefix: string;
  /** Extra attributes of each control (e.g. data-method). */
  attrs?: (desc: OptionDesc) => Record<string, string>;
  /** Text when there is no option at all. */
  none?: string;
}

export interface SettingsForm {
  el: HTMLElement;
  /** Redraw the controls (the options changed). */
  rebuild(): void;
  /** Show the bound values and which options apply (a value changed). */
  sync(): void;
}

let lists = 0;

export function settingsForm(b: FormBinding): SettingsForm {
  const el = h("div", { class: "cnnviz-form" });
  let fields: { desc: OptionDesc; field: HTMLElement; sync: () => void }[] = [];
  let groups: { el: HTMLElement; descs: OptionDesc[] }[] = [];

  const field = (desc: OptionDesc) => {
    const kind = controlKind(desc);
    const about = [desc.help, validText(desc)].filter(Boolean).join(" · ");
    const attrs = { class: `${b.prefix}-${desc.name}`, "aria-label": desc.label, "data-name": desc.name, ...(b.attrs?.(desc) ?? {}) };
    const problem = h("span", { class: "cnnviz-field-problem", "aria-live": "polite" });
    const unit = desc.unit ? h("span", { class: "cnnviz-field-unit" }, desc.unit) : null;
    let control: HTMLInputElement | HTMLSelectElement;
    let extra: HTMLElement[] = [];
    if (kind === "checkbox") control = h("input", { ...attrs, type: "checkbox" });
    else if (kind === "select") control = h("select", attrs);
    else if (kind === "number") {
      control = h("input", { ...attrs, type: "number", min: desc.low, max: desc.high, step: desc.kind === "int" ? 1 : "any", placeholder: desc.optional ? "auto" : undefined });
    } else {
      const id = `cnnviz-list-${++lists}`;
      control = h("input", { ...attrs, type: "text", list: id, size: 6, placeholder: desc.optional ? "auto" : undefined });
      extra = [h("datalist", { id }, ...desc.choices.map((c) => h("option", { value: c })))];
    }
    const input = control;
    const mark = (bad: string | null) => {
      input.classList.toggle("cnnviz-invalid", bad !== null);
      input.setAttribute("aria-invalid", String(bad !== null));
      input.title = bad ?? about;
      problem.textContent = bad === null ? "" : validText(desc);
    };
    const read = () => {
      if (input instanceof HTMLInputElement && input.validity.badInput) return { ok: false as const, problem: `${desc.label}: ${validText(desc)}` };
      return controlValue(desc, input as HTMLInputElement);
    };
    const sync = () => {
      const value = b.get(desc.name);
      if (input instanceof HTMLSelectElement) {
        // An optional choice offers "auto" (its value "": None) besides the choices, so the page can go back to it.
        const offered = desc.optional ? ["", ...desc.choices] : desc.choices;
        const names = offered.includes(String(value ?? "")) ? offered : [String(value ?? ""), ...offered];
        if (input.options.length !== names.length) input.replaceChildren(...names.map((c) => h("option", { value: c }, c === "" ? "auto" : c)));
        input.value = String(value ?? "");
      } else if (input.type === "checkbox") input.checked = value === true;
      else if (document.activeElement !== input || !input.classList.contains("cnnviz-invalid")) {
        input.value = value === null || value === undefined ? "" : String(value);
        mark(null);
      }
    };
    const commit = () => {
      const checked = read();
      mark(checked.ok ? null : checked.problem);
      if (checked.ok && checked.value !== b.get(desc.name)) b.set(desc.name, checked.value);
    };
    input.addEventListener("input", () => {
      const checked = read();
      mark(checked.ok ? null : checked.problem);
    });
    input.addEventListener("change", commit);
    // Chromium fires no "change" on Enter in a field outside a form.
    input.addEventListener("keydown", (ev) => (ev as KeyboardEvent).key === "Enter" && commit());
    mark(null);
    sync();
    const label = h("span", { class: "cnnviz-field-label" }, desc.label);
    const node =
      kind === "checkbox"
        ? h("label", { class: "cnnviz-field cnnviz-field-check", title: about }, input, label)
        : h("label", { class: "cnnviz-field", title: about }, label, h("span", { class: "cnnviz-field-control" }, input, ...(unit ? [unit] : []), ...extra), problem);
    return { desc, field: node, sync };
  };

  const form: SettingsForm = {
    el,
    rebuild() {
      const descs = b.options();
      fields = [];
      groups = groupOptions(descs).map(({ group, options }) => {
        const made = options.map(field);
        fields.push(...made);
        const body = h("div", { class: "cnnviz-group-fields" }, ...made.map((f) => f.field));
        return { el: h("fieldset", { class: "cnnviz-group", "data-group": group }, ...(group ? [h("legend", {}, group)] : []), body), descs: options };
      });
      el.replaceChildren(...(groups.length ? groups.map((g) => g.el) : b.none ? [h("div", { class: "cnnviz-empty-note" }, b.none)] : []));
      form.sync();
    },
    sync() {
      for (const f of fields) {
        f.sync();
        show(f.field, visible(f.desc, b.get));
      }
      for (const g of groups) show(g.el, g.descs.some((d) => visible(d, b.get)));
    },
  };
  form.rebuild();
  return form;
}

/** A settings form bound to traits: option `name` edits trait `name`; `options` picks from the `schema` trait. */
export function traitForm(
  scope: Scope,
  model: AnyModel,
  opts: { prefix: string; options: (schema: OptionDesc[]) => OptionDesc[] },
): SettingsForm {
  const schema = () => (model.get("schema") ?? []) as OptionDesc[];
  const form = settingsForm({
    options: () => opts.options(schema()),
    get: (name) => model.get(name),
    set: (name, value) => {
      model.set(name, value);
      model.save_changes();
    },
    prefix: opts.prefix,
  });
  const follow = () => {
    const names = new Set([...schema().map((d) => d.name), ...whenNames(schema())]);
    const handlers: Record<string, () => void> = {};
    for (const name of names) handlers[name] = form.sync;
    return handlers;
  };
  scope.listen(model, { ...follow(), schema: form.rebuild });
  return form;
}
