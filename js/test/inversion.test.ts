import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cellWidth, toggleLayer, waitingCaptions } from "../src/logic/inversion";

const ORDER = ["conv1", "layer1", "layer1.0", "layer2", "layer3"];

describe("layer checklist", () => {
  it("keeps the chosen layers in network order whatever order they were ticked in", () => {
    assert.deepEqual(toggleLayer(["layer3"], "conv1", true, ORDER), ["conv1", "layer3"]);
    assert.deepEqual(toggleLayer(["conv1", "layer3"], "layer1.0", true, ORDER), ["conv1", "layer1.0", "layer3"]);
  });

  it("removes an unticked layer, ticks each layer once, and keeps names the list lacks at the end", () => {
    assert.deepEqual(toggleLayer(["conv1", "layer2"], "conv1", false, ORDER), ["layer2"]);
    assert.deepEqual(toggleLayer(["conv1"], "conv1", true, ORDER), ["conv1"]);
    assert.deepEqual(toggleLayer(["odd", "layer2"], "conv1", true, ORDER), ["conv1", "layer2", "odd"]);
    assert.deepEqual(toggleLayer(["conv1"], "conv1", false, ORDER), []);
  });
});

describe("picture strip", () => {
  it("splits a strip into equal cells", () => {
    assert.equal(cellWidth(3 * 256, 3), 256);
    assert.equal(cellWidth(7 * 192, 7), 192);
    assert.equal(cellWidth(100, 0), 0);
    assert.equal(cellWidth(0, 3), 0);
  });

  it("says what waits for Start under each chosen layer", () => {
    assert.deepEqual(waitingCaptions(["a", "b.1"]), ["photo", "a · press Start", "b.1 · press Start"]);
  });
});
