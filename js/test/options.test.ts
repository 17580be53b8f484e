import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  controlKind, controlValue, groupMethods, parseOption, rangeHint, withOption, type MethodDesc, type OptionDesc,
} from "../src/options";

const steps: OptionDesc = { name: "steps", label: "steps", kind: "int", default: 50, low: 2, high: 1000, choices: [] };
const noise: OptionDesc = { name: "noise", label: "noise", kind: "float", default: 0.15, low: 0, high: 1, choices: [] };
const rule: OptionDesc = { name: "rule", label: "rule", kind: "choice", default: "gausslegendre", choices: ["gausslegendre", "riemann_left"] };
const relu: OptionDesc = { name: "relu", label: "ReLU", kind: "bool", default: true, choices: [] };

describe("option parsing", () => {
  it("reads numbers, including ones outside the range (Python names the range)", () => {
    assert.equal(parseOption(steps, "64"), 64);
    assert.equal(parseOption(steps, " 2 "), 2);
    assert.equal(parseOption(noise, "0.25"), 0.25);
    assert.equal(parseOption(noise, "1e-2"), 0.01);
    assert.equal(parseOption(steps, "5000"), 5000);
    assert.equal(parseOption(steps, "2.5"), 2.5);
  });

  it("refuses text that is not a number, and unknown choices", () => {
    for (const raw of ["", "  ", "abc", "NaN", "Infinity"]) assert.equal(parseOption(steps, raw), null, raw);
    assert.equal(parseOption(rule, "riemann_left"), "riemann_left");
    assert.equal(parseOption(rule, "simpson"), null);
  });

  it("builds a new options dict, leaving the old one and other methods untouched", () => {
    const before = { integrated_gradients: { steps: 50, rule: "gausslegendre" }, smoothgrad: { samples: 25 } };
    const after = withOption(before, "integrated_gradients", "steps", 8);
    assert.deepEqual(after, { integrated_gradients: { steps: 8, rule: "gausslegendre" }, smoothgrad: { samples: 25 } });
    assert.equal(before.integrated_gradients.steps, 50);
    assert.notEqual(after, before);
    assert.equal(after.smoothgrad, before.smoothgrad);
    assert.deepEqual(withOption({}, "smoothgrad", "noise", 0.2), { smoothgrad: { noise: 0.2 } });
  });

  it("describes number ranges and nothing for choices and bools", () => {
    assert.equal(rangeHint(steps), "2..1000");
    assert.equal(rangeHint(noise), "0..1");
    assert.equal(rangeHint(rule), "");
    assert.equal(rangeHint({ ...relu, low: 0, high: 1 }), "");
  });
});

describe("option controls", () => {
  it("draws a checkbox for a bool, a select for a choice and a number field for numbers", () => {
    assert.equal(controlKind(relu), "checkbox");
    assert.equal(controlKind(rule), "select");
    assert.equal(controlKind(steps), "number");
    assert.equal(controlKind(noise), "number");
  });

  it("reads a bool from the checkbox state, not from its text", () => {
    assert.equal(controlValue(relu, { value: "on", checked: false }), false);
    assert.equal(controlValue(relu, { value: "on", checked: true }), true);
    assert.equal(controlValue(relu, { value: "" }), false);
  });

  it("reads numbers and choices from the control's text", () => {
    assert.equal(controlValue(steps, { value: "12", checked: false }), 12);
    assert.equal(controlValue(steps, { value: "abc" }), null);
    assert.equal(controlValue(rule, { value: "riemann_left" }), "riemann_left");
    assert.equal(controlValue(rule, { value: "simpson" }), null);
  });

  it("saves a bool as a boolean in the options dict", () => {
    const after = withOption({ gradcam: { relu: true } }, "gradcam", "relu", false);
    assert.deepEqual(after, { gradcam: { relu: false } });
    assert.equal(typeof after.gradcam.relu, "boolean");
  });
});

describe("method groups", () => {
  const method = (name: string, layer: boolean): MethodDesc => ({ name, title: name, layer, options: [] });

  it("keeps display order within pixel and layer groups", () => {
    const groups = groupMethods([method("gradient", false), method("gradcam", true), method("smoothgrad", false), method("gradcam_pp", true)]);
    assert.deepEqual(groups.map((g) => [g.label, g.methods.map((m) => m.name)]), [
      ["pixels", ["gradient", "smoothgrad"]],
      ["layer", ["gradcam", "gradcam_pp"]],
    ]);
  });

  it("leaves empty groups out", () => {
    assert.deepEqual(groupMethods([method("gradient", false)]).map((g) => g.label), ["pixels"]);
    assert.deepEqual(groupMethods([]), []);
  });
});
