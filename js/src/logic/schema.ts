/**
 * Settings as Python describes them (the `schema` trait; each saliency method's `options`), and the pure parts of
 * the settings form: which control edits an option, whether what was typed is valid (checked as typed, with the
 * valid range in words), which options show (`when`), and the groups they are shown under.
 */

export type OptionValue = number | string | boolean;
export type Options = Record<string, Record<string, OptionValue>>;

export interface OptionDesc {
  /** The trait (or the method's option) the control edits. */
  name: string;
  label: string;
  kind: "int" | "float" | "choice" | "bool";
  default: OptionValue | null;
  low?: number;
  high?: number;
  /** A choice's values; for int/float, names accepted besides a number (occlusion's "mean", "blur"). */
  choices: string[];
  group?: string;
  help?: string;
  unit?: string;
  /** An empty field means null ("automatic"). */
  optional?: boolean;
  /** Shown only while each named setting has one of the listed values. */
  when?: Record<string, OptionValue[]>;
}

export interface MethodDesc {
  name: string;
  title: string;
  /** Whether the method explains through a layer (the Grad-CAM family). */
  layer: boolean;
  options: OptionDesc[];
  /** What its map measures: the colour bar's caption. */
  quantity?: string;
}

/** A finite number typed in a text field; null for empty text or text that is not one. */
export function parseNumber(raw: string): number | null {
  const text = raw.trim();
  if (text === "") return null;
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}

/** Which control edits an option: a checkbox, a select, a number field, or a text field with suggestions (a
 * number or one of the names). */
export function controlKind(desc: OptionDesc): "checkbox" | "select" | "number" | "text" {
  if (desc.kind === "bool") return "checkbox";
  if (desc.kind === "choice") return "select";
  return desc.choices.length ? "text" : "number";
}

/** The valid values in words, e.g. "1..224 px", "≥ 0", "a whole number ≥ 0", "a number, mean or blur". */
export function validText(desc: OptionDesc): string {
  if (desc.kind === "bool") return "on or off";
  if (desc.kind === "choice") return `one of ${desc.choices.join(", ")}`;
  const { low, high } = desc;
  let range =
    low !== undefined && high !== undefined ? `${low}..${high}` : low !== undefined ? `≥ ${low}` : high !== undefined ? `≤ ${high}` : "";
  if (desc.kind === "int" && low === undefined && high === undefined) range = "a whole number";
  else if (!range) range = "a number";
  else if (desc.kind === "int" && (low === undefined || high === undefined)) range = `a whole number ${range}`;
  if (desc.unit) range += ` ${desc.unit}`;
  if (desc.choices.length) range += `, ${desc.choices.join(" or ")}`;
  if (desc.optional) range += "; empty: automatic";
  return range;
}

export type Checked = { ok: true; value: OptionValue | null } | { ok: false; problem: string };

/** What a text control holds, checked against the option's kind, range and choices. */
export function check(desc: OptionDesc, raw: string): Checked {
  const text = raw.trim();
  const bad = (): Checked => ({ ok: false, problem: `${desc.label}: ${validText(desc)}` });
  if (text === "" && desc.optional) return { ok: true, value: null };
  if (desc.kind === "bool") return { ok: true, value: text === "true" };
  if (desc.choices.includes(text)) return { ok: true, value: text };
  if (desc.kind === "choice") return bad();
  const value = parseNumber(text);
  if (value === null || (desc.kind === "int" && !Number.isInteger(value))) return bad();
  if ((desc.low !== undefined && value < desc.low) || (desc.high !== undefined && value > desc.high)) return bad();
  return { ok: true, value };
}

/** The value a control holds: a checkbox's state, else its text checked by `check`. */
export function controlValue(desc: OptionDesc, control: { value: string; checked?: boolean }): Checked {
  return desc.kind === "bool" ? { ok: true, value: control.checked === true } : check(desc, control.value);
}

/** Whether an option shows: every setting its `when` names has one of the listed values. */
export function visible(desc: OptionDesc, get: (name: string) => unknown): boolean {
  return Object.entries(desc.when ?? {}).every(([name, values]) => values.includes(get(name) as OptionValue));
}

/** The options under their group headings, groups in the order they first appear. */
export function groupOptions(descs: OptionDesc[]): { group: string; options: OptionDesc[] }[] {
  const groups = new Map<string, OptionDesc[]>();
  for (const d of descs) {
    const group = d.group ?? "";
    groups.set(group, [...(groups.get(group) ?? []), d]);
  }
  return [...groups].map(([group, options]) => ({ group, options }));
}

/** Every setting the options' `when` rules read (the form follows their changes). */
export function whenNames(descs: OptionDesc[]): string[] {
  return [...new Set(descs.flatMap((d) => Object.keys(d.when ?? {})))];
}

/** A new options dict with one value replaced (a synced trait needs a new object to notice the change). */
export function withOption(options: Options, method: string, name: string, value: OptionValue): Options {
  return { ...options, [method]: { ...(options[method] ?? {}), [name]: value } };
}

/** Methods in display order, split into pixel methods and layer methods (empty groups left out). */
export function groupMethods(methods: MethodDesc[]): { label: string; methods: MethodDesc[] }[] {
  return [
    { label: "pixels", methods: methods.filter((m) => !m.layer) },
    { label: "layer", methods: methods.filter((m) => m.layer) },
  ].filter((g) => g.methods.length > 0);
}
