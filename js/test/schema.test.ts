import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  check, controlKind, controlValue, groupMethods, groupOptions, parseNumber, validText, visible, whenNames, withOption,
  type MethodDesc, type OptionDesc,
} from "../src/logic/schema";
import { withLayerLimits } from "../src/views/featurevis";

const opt = (d: Partial<OptionDesc> & Pick<OptionDesc, "name" | "kind">): OptionDesc => ({ label: d.name, default: null, choices: [], ...d });
const steps = opt({ name: "steps", kind: "int", low: 2, high: 1000 });
const noise = opt({ name: "noise", kind: "float", low: 0, high: 1 });
const rule = opt({ name: "rule", kind: "choice", choices: ["gausslegendre", "riemann_left"] });
const relu = opt({ name: "relu", label: "ReLU", kind: "bool" });
const window = opt({ name: "window", kind: "int", low: 1, high: 224, unit: "px" });
const baseline = opt({ name: "baseline", kind: "float", choices: ["mean", "blur"] });
const unit = opt({ name: "unit", kind: "int", low: 0 });
const lr = opt({ name: "lr", label: "learning rate", kind: "float", low: 0, high: 10 });
const y = opt({ name: "y", label: "row", kind: "int", low: 0, optional: true, when: { kind: ["neuron"] } });

describe("settings form: checking what is typed", () => {
  it("accepts numbers in range, names the range otherwise", () => {
    assert.deepEqual(check(steps, " 64 "), { ok: true, value: 64 });
    assert.deepEqual(check(noise, "1e-2"), { ok: true, value: 0.01 });
    assert.deepEqual(check(window, "224"), { ok: true, value: 224 });
    assert.deepEqual(check(window, "0"), { ok: false, problem: "window: 1..224 px" });
    assert.deepEqual(check(window, "300"), { ok: false, problem: "window: 1..224 px" });
    assert.deepEqual(check(steps, "2.5"), { ok: false, problem: "steps: 2..1000" });
    assert.deepEqual(check(lr, "-1"), { ok: false, problem: "learning rate: 0..10" });
    for (const raw of ["", "  ", "abc", "NaN", "Infinity"]) assert.equal(check(steps, raw).ok, false, raw);
  });

  it("reads a number or one of the names where both are allowed (occlusion's baseline)", () => {
    assert.deepEqual(check(baseline, "0"), { ok: true, value: 0 });
    assert.deepEqual(check(baseline, "-1.5"), { ok: true, value: -1.5 });
    assert.deepEqual(check(baseline, " blur "), { ok: true, value: "blur" });
    assert.deepEqual(check(baseline, "grey"), { ok: false, problem: "baseline: a number, mean or blur" });
  });

  it("lets an optional field be empty (null: automatic) and refuses choices not offered", () => {
    assert.deepEqual(check(y, ""), { ok: true, value: null });
    assert.deepEqual(check(y, "3"), { ok: true, value: 3 });
    assert.equal(check(y, "-1").ok, false);
    assert.deepEqual(check(rule, "riemann_left"), { ok: true, value: "riemann_left" });
    assert.deepEqual(check(rule, "simpson"), { ok: false, problem: "rule: one of gausslegendre, riemann_left" });
  });

  it("words the valid values, with units and open ends", () => {
    assert.equal(validText(window), "1..224 px");
    assert.equal(validText(unit), "a whole number ≥ 0");
    assert.equal(validText(opt({ name: "a", kind: "float", low: 0 })), "≥ 0");
    assert.equal(validText(opt({ name: "a", kind: "float" })), "a number");
    assert.equal(validText(opt({ name: "a", kind: "int" })), "a whole number");
    assert.equal(validText(y), "a whole number ≥ 0; empty: automatic");
    assert.equal(validText(opt({ name: "c", kind: "float", low: 0, high: 100, unit: "%" })), "0..100 %");
  });

  it("reads a bool from the checkbox state and other controls from their text", () => {
    assert.deepEqual(controlValue(relu, { value: "on", checked: false }), { ok: true, value: false });
    assert.deepEqual(controlValue(relu, { value: "on", checked: true }), { ok: true, value: true });
    assert.deepEqual(controlValue(steps, { value: "12" }), { ok: true, value: 12 });
    assert.equal(controlValue(steps, { value: "abc" }).ok, false);
  });

  it("picks a checkbox, a select, a number field, or a text field with suggestions", () => {
    assert.deepEqual([relu, rule, steps, baseline].map(controlKind), ["checkbox", "select", "number", "text"]);
    assert.equal(parseNumber(" 4 "), 4);
    assert.equal(parseNumber(""), null);
  });
});

describe("settings form: which options show (`when`)", () => {
  const state: Record<string, unknown> = { kind: "channel", param: "fft" };
  const get = (name: string) => state[name];

  it("shows an option only while every named setting has a listed value", () => {
    assert.equal(visible(y, get), false);
    assert.equal(visible(y, (n) => ({ kind: "neuron" })[n]), true);
    assert.equal(visible(steps, get), true); // no rule: always
    const both = opt({ name: "b", kind: "float", when: { kind: ["neuron", "channel"], param: ["pixel"] } });
    assert.equal(visible(both, get), false);
    assert.equal(visible(both, (n) => ({ kind: "channel", param: "pixel" })[n]), true);
    assert.deepEqual(whenNames([y, both, steps]), ["kind", "param"]);
  });

  it("groups options in the order their groups first appear", () => {
    const a = opt({ name: "a", kind: "int", group: "run" });
    const b = opt({ name: "b", kind: "int", group: "objective" });
    const c = opt({ name: "c", kind: "int", group: "run" });
    assert.deepEqual(groupOptions([a, b, c]).map((g) => [g.group, g.options.map((o) => o.name)]), [["run", ["a", "c"]], ["objective", ["b"]]]);
  });

  it("bounds the unit and the neuron's position by the chosen layer's shape", () => {
    const x = opt({ name: "x", kind: "int", optional: true }); // Python leaves the range to the layer
    const limited = withLayerLimits([unit, y, x, steps], [80, 14, 12]);
    assert.deepEqual(limited.map((d) => d.high), [79, 13, 11, 1000]);
    assert.deepEqual(limited.slice(0, 3).map((d) => d.low), [0, 0, 0]);
    assert.deepEqual(check(limited[2], "-1"), { ok: false, problem: "x: 0..11; empty: automatic" });
    assert.deepEqual(check(limited[0], "999"), { ok: false, problem: "unit: 0..79" });
    assert.equal(withLayerLimits([unit], undefined)[0], unit);
  });
});

describe("saliency options and methods", () => {
  it("builds a new options dict, leaving the old one and other methods untouched", () => {
    const before = { integrated_gradients: { steps: 50, rule: "gausslegendre" }, smoothgrad: { samples: 25 } };
    const after = withOption(before, "integrated_gradients", "steps", 8);
    assert.deepEqual(after, { integrated_gradients: { steps: 8, rule: "gausslegendre" }, smoothgrad: { samples: 25 } });
    assert.equal(before.integrated_gradients.steps, 50);
    assert.equal(after.smoothgrad, before.smoothgrad);
    assert.deepEqual(withOption({}, "gradcam", "relu", false), { gradcam: { relu: false } });
  });

  const method = (name: string, layer: boolean): MethodDesc => ({ name, title: name, layer, options: [] });
  it("keeps display order within pixel and layer groups, leaving empty groups out", () => {
    const groups = groupMethods([method("gradient", false), method("gradcam", true), method("smoothgrad", false)]);
    assert.deepEqual(groups.map((g) => [g.label, g.methods.map((m) => m.name)]), [["pixels", ["gradient", "smoothgrad"]], ["layer", ["gradcam"]]]);
    assert.deepEqual(groupMethods([]), []);
  });
});
