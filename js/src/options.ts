/**
 * Attribution methods as Python describes them (`Method.describe()`), and the pure parts of editing their
 * options: reading a control (a number field, a select, a checkbox) and building the new `options` dict.
 * Range checks stay in Python, whose error message names the valid range, so the view never silently clamps
 * what a person typed.
 */

export interface OptionDesc {
  name: string;
  label: string;
  kind: "int" | "float" | "choice" | "bool";
  default: OptionValue;
  low?: number;
  high?: number;
  choices: string[];
}

export interface MethodDesc {
  name: string;
  title: string;
  /** Whether the method explains through a layer (the Grad-CAM family). */
  layer: boolean;
  options: OptionDesc[];
}

export type OptionValue = number | string | boolean;
export type Options = Record<string, Record<string, OptionValue>>;

/** A finite number typed in a text field; null for empty text or text that is not one. */
export function parseNumber(raw: string): number | null {
  const text = raw.trim();
  if (text === "") return null;
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}

/** A whole number typed in a text field (Python names the valid range); null when it is not one. */
export function parseWhole(raw: string): number | null {
  const value = parseNumber(raw);
  return value !== null && Number.isInteger(value) ? value : null;
}

/** The value typed or picked in a number or choice option's control; null when it is not one (empty, not a
 * number, not a choice). */
export function parseOption(desc: OptionDesc, raw: string): OptionValue | null {
  if (desc.kind === "choice") return desc.choices.includes(raw) ? raw : null;
  return parseNumber(raw);
}

/** The value an option's control holds: a bool option's checkbox state, else its text read by `parseOption`. */
export function controlValue(desc: OptionDesc, control: { value: string; checked?: boolean }): OptionValue | null {
  return desc.kind === "bool" ? control.checked === true : parseOption(desc, control.value);
}

/** Which control edits an option: a checkbox for a bool, a select for a choice, a number field otherwise. */
export function controlKind(desc: OptionDesc): "checkbox" | "select" | "number" {
  return desc.kind === "bool" ? "checkbox" : desc.kind === "choice" ? "select" : "number";
}

/** A new options dict with one value replaced (a synced trait needs a new object to notice the change). */
export function withOption(options: Options, method: string, name: string, value: OptionValue): Options {
  return { ...options, [method]: { ...(options[method] ?? {}), [name]: value } };
}

/** The valid range of a number option as a hint, e.g. "2..1000"; "" for choices and bools. */
export function rangeHint(desc: OptionDesc): string {
  return controlKind(desc) !== "number" || desc.low === undefined || desc.high === undefined ? "" : `${desc.low}..${desc.high}`;
}

/** Methods in display order, split into pixel methods and layer methods (empty groups left out). */
export function groupMethods(methods: MethodDesc[]): { label: string; methods: MethodDesc[] }[] {
  return [
    { label: "pixels", methods: methods.filter((m) => !m.layer) },
    { label: "layer", methods: methods.filter((m) => m.layer) },
  ].filter((g) => g.methods.length > 0);
}
