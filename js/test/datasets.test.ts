import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cellPercent, count, distanceText, failuresText, focusText, itemText, percentText, plural, selectionText, spriteCell, spriteRows, stepUnit, summaryText } from "../src/logic/datasets";

// 10 units of 48 px, 4 per row: rows of 4, 4 and 2 cells; the sprite is 192 × 144 px.
const sprite = { count: 10, cell: 48, columns: 4 };

describe("layer overview sprite", () => {
  it("has as many rows as it takes to hold every unit", () => {
    assert.equal(spriteRows(sprite), 3);
    assert.equal(spriteRows({ count: 8, cell: 48, columns: 4 }), 2);
    assert.equal(spriteRows({ count: 0, cell: 48, columns: 0 }), 0);
  });

  it("a click at natural size lands on the cell under it", () => {
    assert.equal(spriteCell(sprite, 0, 0, 192, 144), 0);
    assert.equal(spriteCell(sprite, 47.9, 47.9, 192, 144), 0);
    assert.equal(spriteCell(sprite, 48, 0, 192, 144), 1);
    assert.equal(spriteCell(sprite, 191, 50, 192, 144), 7);
    assert.equal(spriteCell(sprite, 60, 100, 192, 144), 9);
  });

  it("a click on the sprite drawn at another size lands on the same cell", () => {
    // Drawn at half size (96 × 72): the centre of unit 6 (column 2, row 1) is at (2.5, 1.5) cells of 24 px.
    assert.equal(spriteCell(sprite, 60, 36, 96, 72), 6);
    // And at 1.5× size.
    assert.equal(spriteCell(sprite, 3.5 * 72, 1.5 * 72, 288, 216), 7);
  });

  it("the empty end of the last row and points outside are no unit", () => {
    assert.equal(spriteCell(sprite, 100, 100, 192, 144), null);
    assert.equal(spriteCell(sprite, -1, 10, 192, 144), null);
    assert.equal(spriteCell(sprite, 192, 10, 192, 144), null);
    assert.equal(spriteCell(sprite, 10, 144, 192, 144), null);
    assert.equal(spriteCell(sprite, 10, 10, 0, 0), null);
  });

  it("marks a unit's cell in percent of the sprite", () => {
    assert.deepEqual(cellPercent(sprite, 0), { left: 0, top: 0, width: 25, height: 100 / 3 });
    assert.deepEqual(cellPercent(sprite, 9), { left: 25, top: 200 / 3, width: 25, height: 100 / 3 });
    assert.equal(cellPercent(sprite, 10), null);
    assert.equal(cellPercent(sprite, -1), null);
  });

  it("every cell's marker centre maps back to that unit", () => {
    for (let unit = 0; unit < sprite.count; unit++) {
      const at = cellPercent(sprite, unit)!;
      const x = ((at.left + at.width / 2) / 100) * 192;
      const y = ((at.top + at.height / 2) / 100) * 144;
      assert.equal(spriteCell(sprite, x, y, 192, 144), unit);
    }
  });

  it("arrow keys step by one cell or one row and stop at the ends", () => {
    assert.equal(stepUnit(sprite, 5, "ArrowRight"), 6);
    assert.equal(stepUnit(sprite, 5, "ArrowLeft"), 4);
    assert.equal(stepUnit(sprite, 5, "ArrowDown"), 9);
    assert.equal(stepUnit(sprite, 5, "ArrowUp"), 1);
    assert.equal(stepUnit(sprite, 7, "ArrowDown"), 7);
    assert.equal(stepUnit(sprite, 0, "ArrowLeft"), 0);
    assert.equal(stepUnit(sprite, 9, "ArrowRight"), 9);
    assert.equal(stepUnit(sprite, 5, "Enter"), null);
  });
});

describe("dataset words", () => {
  it("counts with thin-space thousands and plurals", () => {
    assert.equal(count(1234567), "1\u202f234\u202f567");
    assert.equal(count(999), "999");
    assert.equal(plural(1, "image"), "1 image");
    assert.equal(plural(2, "image"), "2 images");
    assert.equal(plural(10, "class"), "10 classes");
  });

  const summary = { total: 5000, scanned: 1200, failed: 0, failures: [], layers: ["a"], embed: ["b"], classes: ["cat", "dog"], complete: false };

  it("summary: scanned of total, whether it stopped, skipped files and classes", () => {
    assert.equal(summaryText(summary, true), "1\u202f200/5\u202f000 images scanned · 2 classes");
    assert.equal(summaryText(summary, false), "1\u202f200/5\u202f000 images scanned (stopped: Scan resumes) · 2 classes");
    assert.equal(summaryText({ ...summary, scanned: 0 }, false), "0/5\u202f000 images scanned (press Scan) · 2 classes");
    assert.equal(summaryText({ ...summary, scanned: 0, classes: [] }, true), "0/5\u202f000 images scanned");
    assert.equal(
      summaryText({ ...summary, scanned: 4997, failed: 3, complete: true, classes: [] }, false),
      "4\u202f997/5\u202f000 images scanned (complete) · 3 skipped · no labels",
    );
    assert.equal(summaryText({ ...summary, total: 0 }, false), "The dataset holds no readable image.");
    assert.equal(summaryText({}, false), "");
  });

  it("failures: the reasons Python sent and how many more", () => {
    assert.equal(failuresText({ failed: 2, failures: ["a.png: truncated", "b.jpg: not an image"] }), "a.png: truncated\nb.jpg: not an image");
    assert.equal(failuresText({ failed: 7, failures: ["a.png: truncated"] }), "a.png: truncated\n… and 6 more");
    assert.equal(failuresText(null), "");
  });

  it("distances name their metric", () => {
    assert.equal(distanceText(0.123456, "cosine"), "cos 0.123");
    assert.equal(distanceText(12.5, "l2"), "L2 12.5");
    assert.equal(distanceText(0, "cosine"), "cos 0");
  });

  it("confidence as a percentage", () => {
    assert.equal(percentText(0.873), "87%");
    assert.equal(percentText(0.004), "<1%");
    assert.equal(percentText(0), "0%");
    assert.equal(percentText(1), "100%");
  });

  it("focus caption: name, label and prediction; the uploaded picture has neither label nor confidence", () => {
    assert.equal(focusText({ item: 3, name: "cat.png", label: "cat", predicted: "tabby", confidence: 0.5 }), "#3 cat.png · label: cat · predicted: tabby (50%)");
    assert.equal(focusText({ item: 4, name: "x.png", label: "", predicted: "" }), "#4 x.png · no label");
    assert.equal(focusText({ item: -2, name: "uploaded picture", label: "", predicted: "" }), "uploaded picture");
    assert.equal(focusText({}), "");
    assert.equal(focusText({ item: -1 }), "");
  });

  it("an image named by its index is shown by its index once", () => {
    assert.equal(itemText(38, "#38"), "#38");
    assert.equal(itemText(38, ""), "#38");
    assert.equal(itemText(38, "#3"), "#38 #3");
    assert.equal(itemText(7, "cats/7.jpg"), "#7 cats/7.jpg");
    assert.equal(focusText({ item: 38, name: "#38", label: "motorcycle", predicted: "moped", confidence: 0.2 }), "#38 · label: motorcycle · predicted: moped (20%)");
  });

  it("selection: all shown, or the first few of many", () => {
    assert.equal(selectionText(12, 12), "12 selected");
    assert.equal(selectionText(120, 48), "120 selected, first 48 shown");
    assert.match(selectionText(0, 0), /lasso/);
  });
});
