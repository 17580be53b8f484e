import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MAX_WEIGHT, shares, styleLabels, weightFields, weightIndex, withWeight } from "../src/logic/style";

describe("style weight fields", () => {
  it("makes one non-negative number field per label, whose name gives its index back", () => {
    const fields = weightFields("w", ["style 1", "style 2"], "share of the blend");
    assert.deepEqual(fields.map((f) => [f.name, f.label, f.kind, f.low, f.high]), [
      ["w0", "style 1", "float", 0, MAX_WEIGHT],
      ["w1", "style 2", "float", 0, MAX_WEIGHT],
    ]);
    assert.equal(weightIndex("w", "w1"), 1);
    assert.equal(weightIndex("w", "w12"), 12);
    assert.equal(weightIndex("w", "seed"), -1);
    assert.equal(weightIndex("w", "w"), -1);
    assert.equal(weightIndex("w", "w1x"), -1);
  });

  it("changes one weight in a copy", () => {
    const before = [1, 2, 3];
    assert.deepEqual(withWeight(before, 1, 5), [1, 5, 3]);
    assert.deepEqual(before, [1, 2, 3]);
    assert.deepEqual(withWeight(before, 7, 5), [1, 2, 3]);
  });

  it("gives each weight's share of the blend, and none when all are 0", () => {
    assert.deepEqual(shares([1, 3]), ["25%", "75%"]);
    assert.deepEqual(shares([2]), ["100%"]);
    assert.deepEqual(shares([0, 0]), ["", ""]);
  });

  it("captions styles by number and a lone texture by its name", () => {
    assert.deepEqual(styleLabels("transfer", 2), ["style 1", "style 2"]);
    assert.deepEqual(styleLabels("transfer", 1), ["style 1"]);
    assert.deepEqual(styleLabels("texture", 1), ["texture"]);
    assert.deepEqual(styleLabels("texture", 2), ["texture 1", "texture 2"]);
  });
});
