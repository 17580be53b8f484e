import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { COLORMAP_NAMES, colorOf, lut } from "../src/logic/colormap";

describe("colour maps", () => {
  it("start and end at their first and last stops", () => {
    const gray = lut("gray");
    assert.deepEqual(colorOf(0, gray), [0, 0, 0]);
    assert.deepEqual(colorOf(1, gray), [255, 255, 255]);
    const inferno = lut("inferno");
    assert.deepEqual(colorOf(0, inferno), [0x00, 0x00, 0x04]);
    assert.deepEqual(colorOf(1, inferno), [0xfc, 0xff, 0xa4]);
  });

  it("interpolate linearly between stops (gray: value v -> round(255 v))", () => {
    const gray = lut("gray");
    for (const v of [0.1, 0.25, 0.5, 0.9]) {
      const [r, g, b] = colorOf(v, gray);
      assert.equal(r, Math.round(v * 255));
      assert.equal(g, r);
      assert.equal(b, r);
    }
  });

  it("hit an interior stop exactly (jet's middle stop is #7fff7f)", () => {
    // jet has 9 stops, so stop 4 sits at 4/8 = 0.5 -> table index 127.5; check both neighbours bracket it.
    const jet = lut("jet");
    const lo = colorOf(127 / 255, jet);
    const hi = colorOf(128 / 255, jet);
    assert.ok(Math.min(lo[0], hi[0]) <= 0x7f);
    assert.ok(Math.max(lo[0], hi[0]) >= 0x7e);
    assert.ok(lo[1] > 250);
  });

  it("is monotonic in lightness for the perceptual maps", () => {
    for (const name of ["inferno", "viridis", "gray"]) {
      const t = lut(name);
      const luma = (i: number) => 0.2126 * t[i * 3] + 0.7152 * t[i * 3 + 1] + 0.0722 * t[i * 3 + 2];
      for (let i = 16; i < 256; i += 16) assert.ok(luma(i) > luma(i - 16));
    }
  });

  it("clamps out-of-range values and maps NaN to the lowest colour", () => {
    const gray = lut("gray");
    assert.deepEqual(colorOf(-3, gray), [0, 0, 0]);
    assert.deepEqual(colorOf(7, gray), [255, 255, 255]);
    assert.deepEqual(colorOf(NaN, gray), [0, 0, 0]);
  });

  it("names the valid choices for an unknown map", () => {
    assert.throws(() => lut("rainbow"), /choose one of: .*inferno/);
    assert.ok(COLORMAP_NAMES.includes("viridis"));
  });
});
