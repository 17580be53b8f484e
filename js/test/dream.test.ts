import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { dividerAt, nudged, octaveLine } from "../src/logic/dream";

describe("before/after divider", () => {
  it("follows the pointer as a share of the box, clamped to its edges", () => {
    assert.equal(dividerAt(150, 100, 200), 0.25);
    assert.equal(dividerAt(50, 100, 200), 0);
    assert.equal(dividerAt(400, 100, 200), 1);
    assert.equal(dividerAt(10, 0, 0), 0.5); // not laid out yet: the middle
  });

  it("moves by the arrow keys, jumps with Home and End, and ignores other keys", () => {
    assert.ok(Math.abs(nudged(0.5, "ArrowRight")! - 0.55) < 1e-12);
    assert.ok(Math.abs(nudged(0.5, "ArrowLeft", 0.1)! - 0.4) < 1e-12);
    assert.equal(nudged(0.98, "ArrowRight"), 1);
    assert.equal(nudged(0.02, "ArrowLeft"), 0);
    assert.equal(nudged(0.3, "Home"), 0);
    assert.equal(nudged(0.3, "End"), 1);
    assert.equal(nudged(0.3, "a"), null);
  });
});

describe("octave line", () => {
  it("is empty before the first step and names the octave (1-based) and the norms so far", () => {
    assert.equal(octaveLine(0, 4, [], 0), "");
    assert.equal(octaveLine(0, 4, [], 3), "octave 1/4");
    assert.equal(octaveLine(2, 4, [12.345, 150.2], 25), "octave 3/4 · layer norm after each octave: 12.3 → 150");
  });
});
