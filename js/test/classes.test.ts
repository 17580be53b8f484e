import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { classText, matchClasses, parseClass } from "../src/logic/classes";

const LABELS = ["tench", "goldfish", "great white shark", "tiger shark", "tabby, tabby cat", "tiger cat", "Tiger"];

describe("class picker", () => {
  it("suggests labels that start with the query first, then those containing it, ignoring case", () => {
    assert.deepEqual(matchClasses(LABELS, "tiger"), [3, 5, 6]);
    assert.deepEqual(matchClasses(LABELS, "shark"), [2, 3]);
    assert.deepEqual(matchClasses(LABELS, "CAT"), [4, 5]);
    assert.deepEqual(matchClasses(LABELS, "  "), []);
    assert.deepEqual(matchClasses(LABELS, "a", 2).length, 2);
  });

  it("suggests a class by its number", () => {
    assert.deepEqual(matchClasses(LABELS, "4"), [4]);
    assert.equal(classText(LABELS, 4), "4: tabby, tabby cat");
  });

  it("reads a number, a suggestion's text or one label; refuses the rest", () => {
    assert.equal(parseClass(LABELS, "3"), 3);
    assert.equal(parseClass(LABELS, "4: tabby, tabby cat"), 4);
    assert.equal(parseClass(LABELS, "goldfish"), 1);
    assert.equal(parseClass(LABELS, "tiger"), 6); // the one exact label, though others contain it
    assert.equal(parseClass(LABELS, "gold"), 1); // the one label that matches
    assert.equal(parseClass(LABELS, "shark"), null); // two
    assert.equal(parseClass(LABELS, "7"), null); // out of range
    assert.equal(parseClass(LABELS, "zebra"), null);
  });
});
