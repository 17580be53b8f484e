import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { exampleCaption, examplesState, exampleTitle } from "../src/logic/examples";

const items = [
  { item: 12, name: "cat/3.png", value: 4.2134 },
  { item: 2, name: "#2", value: -0.5 },
];
const shown = { layer: "conv2", unit: 3, items, crops: [new Uint8Array(1), new Uint8Array(1)], note: "the dataset patches…" };

describe("dataset examples", () => {
  it("shows nothing before Python has looked", () => {
    assert.equal(examplesState({}, "conv2", 3), null);
    assert.equal(examplesState(null, "conv2", 3), null);
  });

  it("shows the note alone when there are no examples, whatever the unit", () => {
    assert.deepEqual(examplesState({ note: "scan a dataset" }, "conv2", 7), { items: [], note: "scan a dataset" });
  });

  it("shows the examples of the unit chosen, and says it is cropping while they are another unit's", () => {
    assert.deepEqual(examplesState(shown, "conv2", 3), { items, note: "the dataset patches…" });
    assert.equal(examplesState(shown, "conv2", 4), "cropping");
    assert.equal(examplesState(shown, "conv", 3), "cropping");
  });

  it("captions an example by its activation and names its image in the tooltip", () => {
    assert.equal(exampleCaption(items[0]), "4.21");
    assert.equal(exampleTitle(items[0]), "#12 cat/3.png: activation 4.21");
    assert.equal(exampleTitle(items[1]), "#2 #2: activation -0.5");
  });
});
