import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { changeCaption } from "../src/logic/fooling";

describe("change caption", () => {
  it("says the magnification in three significant digits and the largest change in grey levels", () => {
    assert.equal(changeCaption(255, 0.5), "change ×255, max 0.5/255");
    assert.equal(changeCaption(12.5, 10.2), "change ×12.5, max 10.2/255");
    assert.equal(changeCaption(2, 63.75), "change ×2, max 63.8/255");
    assert.equal(changeCaption(1.004, 127), "change ×1, max 127.0/255");
  });
});
