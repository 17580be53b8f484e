import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { peak, rescale, stripCount, toggleUnit } from "../src/logic/thumbs";

describe("channel thumbnails", () => {
  it("rescale maps each map's own range onto [0, 1]", () => {
    assert.deepEqual(Array.from(rescale([2, 4, 3, 6])), [0, 0.5, 0.25, 1]);
    assert.deepEqual(Array.from(rescale([-1, 1])), [0, 1]);
  });

  it("rescale leaves a flat (dead) channel at 0 and ignores NaN/inf", () => {
    assert.deepEqual(Array.from(rescale([3, 3, 3])), [0, 0, 0]);
    assert.deepEqual(Array.from(rescale([0, NaN, 2, Infinity])), [0, 0, 1, 0]);
    assert.deepEqual(Array.from(rescale([])), []);
  });

  it("peak is the largest finite value", () => {
    assert.equal(peak([0.5, -2, 7.25, NaN]), 7.25);
    assert.equal(peak([]), -Infinity);
  });
});

describe("unit selection for the channels batch mode", () => {
  it("adds a unit at the end, removes it on a second click", () => {
    assert.deepEqual(toggleUnit([], 5), [5]);
    assert.deepEqual(toggleUnit([5, 2], 9), [5, 2, 9]);
    assert.deepEqual(toggleUnit([5, 2, 9], 2), [5, 9]);
  });
});

describe("batch strip", () => {
  it("counts the square pictures side by side", () => {
    assert.equal(stripCount(224, 224), 1);
    assert.equal(stripCount(4 * 128, 128), 4);
    assert.equal(stripCount(0, 0), 0);
  });
});
