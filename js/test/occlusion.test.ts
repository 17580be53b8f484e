import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hoverText, percent, previewCaptions, windowAt, windowCounts, type OccludedWindow } from "../src/logic/occlusion";

describe("occlusion windows", () => {
  it("counts windows as the engine does: as many as fit plus one clipped at the border", () => {
    assert.deepEqual(windowCounts([224, 224], 32, 16), [13, 13]);
    assert.deepEqual(windowCounts([224, 224], 16, 4), [53, 53]);
    assert.deepEqual(windowCounts([224, 224], 30, 16), [14, 14]); // 194/16 = 12.1 -> 13 + 1
    assert.deepEqual(windowCounts([224, 200], [16, 32], [8, 16]), [27, 12]);
  });

  it("picks the covering window whose centre is nearest (the engine's window_at)", () => {
    // window 32, stride 16: window k covers [16k, 16k + 32); centre 16k + 16.
    assert.deepEqual(windowAt([224, 224], 32, 16, 0, 0), [0, 0]);
    assert.deepEqual(windowAt([224, 224], 32, 16, 31, 40), [1, 2]); // 31.5 is nearest centre 32 (k 1); 40.5 -> 48 (k 2)
    assert.deepEqual(windowAt([224, 224], 32, 16, 223, 223), [12, 12]);
    assert.deepEqual(windowAt([224, 224], 16, 16, 20, 100), [1, 6]);
  });

  it("says what the mouse points at in the captions' (row, column) and the value", () => {
    assert.equal(hoverText([3, 4], 1.2345), "window (3, 4): score drop 1.23");
    assert.equal(hoverText([0, 12], -0.5), "window (0, 12): score drop -0.5");
    assert.equal(hoverText([1, 1], NaN), "window (1, 1): not computed yet");
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
