import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { changeCaption, classMatches, classText, parseClass } from "../src/logic/classes";

const LABELS = ["tench", "goldfish", "great white shark", "tiger shark", "hammerhead", "tiger cat", "tabby cat"];

describe("class search", () => {
  it("matches every typed word anywhere in a label, labels starting with the query first", () => {
    assert.deepEqual(classMatches(LABELS, "shark").map((m) => m.index), [2, 3]);
    assert.deepEqual(classMatches(LABELS, "tiger").map((m) => m.index), [3, 5]);
    assert.deepEqual(classMatches(LABELS, "cat ti").map((m) => m.index), [5]);
    assert.deepEqual(classMatches(LABELS, "CAT").map((m) => m.index), [5, 6]);
    assert.deepEqual(classMatches(LABELS, "  "), []);
    assert.deepEqual(classMatches(LABELS, "zebra"), []);
  });

  it("a number matches its class first, and the limit holds", () => {
    assert.deepEqual(classMatches(LABELS, "4")[0], { index: 4, label: "hammerhead" });
    assert.deepEqual(classMatches(LABELS, "99"), []);
    assert.equal(classMatches(LABELS, "a", 3).length, 3);
  });

  it("parses an index, the shown text or a whole label, and refuses anything else", () => {
    assert.equal(parseClass(LABELS, "3"), 3);
    assert.equal(parseClass(LABELS, classText(5, "tiger cat")), 5);
    assert.equal(parseClass(LABELS, " Tabby Cat "), 6);
    assert.equal(parseClass(LABELS, "7"), null);
    assert.equal(parseClass(LABELS, "tiger"), null);
    assert.equal(parseClass(LABELS, ""), null);
  });
});

describe("change caption", () => {
  it("says the magnification in three significant digits and the largest change in grey levels", () => {
    assert.equal(changeCaption(255, 0.5), "change ×255, max 0.5/255");
    assert.equal(changeCaption(12.5, 10.2), "change ×12.5, max 10.2/255");
    assert.equal(changeCaption(2, 63.75), "change ×2, max 63.8/255");
    assert.equal(changeCaption(1.004, 127), "change ×1, max 127.0/255");
  });
});
