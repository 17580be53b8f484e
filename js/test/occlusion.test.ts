import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseBaseline, percent, previewCaptions, type OccludedWindow } from "../src/occlusion";
import { parseWhole } from "../src/options";

describe("occlusion settings fields", () => {
  it("reads whole numbers for window and stride, passing bad ranges on for Python to name", () => {
    assert.equal(parseWhole("16"), 16);
    assert.equal(parseWhole(" 4 "), 4);
    assert.equal(parseWhole("0"), 0);
    assert.equal(parseWhole("-3"), -3);
    for (const raw of ["", "2.5", "abc", "Infinity"]) assert.equal(parseWhole(raw), null, raw);
  });

  it("reads a baseline as a number when it is one, else as a name", () => {
    assert.equal(parseBaseline("0"), 0);
    assert.equal(parseBaseline("-1.5"), -1.5);
    assert.equal(parseBaseline(" blur "), "blur");
    assert.equal(parseBaseline("grey"), "grey"); // Python answers with the valid names
    assert.equal(parseBaseline("  "), null);
  });
});

describe("occluded-window preview", () => {
  const window: OccludedWindow = {
    i: 3, j: 4, box: [24, 40, 32, 48], image: new DataView(new ArrayBuffer(0)),
    prob: 0.125, clean_prob: 0.75, target: 285, label: "Egyptian cat",
  };

  it("captions both pictures with the class probability and the change in points", () => {
    assert.deepEqual(previewCaptions(window), {
      original: "original: Egyptian cat 75.0%",
      occluded: "window (3, 4) covered: 12.5% (−62.5 points)",
    });
    assert.equal(previewCaptions({ ...window, prob: 0.8 }).occluded, "window (3, 4) covered: 80.0% (+5.0 points)");
    assert.equal(percent(0.7712), "77.1%");
  });
});
