import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pageTheme } from "../src/core/theme";
import { gradientCss } from "../src/logic/colormap";
import { colorRange, formatValue, normalize, rangeLabels, scaleOf } from "../src/logic/overlay";
import { activationAlpha } from "../src/logic/thumbs";

describe("page theme", () => {
  it("follows JupyterLab's body attribute first, then VS Code's class, then the browser", () => {
    assert.equal(pageTheme({ jpThemeLight: "true", prefersDark: true }), "light");
    assert.equal(pageTheme({ jpThemeLight: "false" }), "dark");
    assert.equal(pageTheme({ jpThemeLight: null, bodyClass: "vscode-body vscode-dark" }), "dark");
    assert.equal(pageTheme({ bodyClass: "vscode-light" }), "light");
    assert.equal(pageTheme({ prefersDark: true }), "dark");
    assert.equal(pageTheme({}), "light");
  });
});

describe("colour bar range", () => {
  it("runs from 0 to the value that saturates, as the overlay normalises", () => {
    const data = [0, 1, 2, 4];
    const range = colorRange(data);
    assert.deepEqual(range, { low: 0, high: 4, belowLow: false, aboveHigh: false });
    assert.equal(normalize(data)[3], 1); // the high end is where the colours saturate
    assert.deepEqual(rangeLabels(range), { low: "0", high: "4" });
  });

  it("marks both ends open when values clamp: negatives at the low end, outliers above the 99.5th percentile", () => {
    const values = Array.from({ length: 1000 }, (_, i) => (i < 995 ? i / 994 : 1000));
    values[0] = -0.5;
    const range = colorRange(values);
    assert.equal(range.high, scaleOf(values));
    assert.ok(range.belowLow && range.aboveHigh);
    assert.deepEqual(rangeLabels(range), { low: "≤ 0", high: "≥ 1" });
  });

  it("ignores NaN (not computed yet) and gives an empty map a zero range", () => {
    assert.deepEqual(colorRange([NaN, 2, NaN]), { low: 0, high: 2, belowLow: false, aboveHigh: false });
    assert.deepEqual(colorRange([]), { low: 0, high: 0, belowLow: false, aboveHigh: false });
  });

  it("prints values with three significant digits, small and large ones in exponent form", () => {
    assert.deepEqual([0, 4, 1.23456, -0.5, 0.0123, 2.5e-5, 123456, 1e-4].map(formatValue), ["0", "4", "1.23", "-0.5", "0.0123", "2.5e-5", "1.23e5", "1e-4"]);
  });

  it("draws the gradient from the colour map's first to its last colour", () => {
    const css = gradientCss("gray", 3);
    assert.equal(css, "linear-gradient(to right, rgb(0, 0, 0) 0.0%, rgb(128, 128, 128) 50.0%, rgb(255, 255, 255) 100.0%)");
  });
});

describe("thumbnail transparency", () => {
  it("is opaque where the channel peaks and lets the photo through where it is quiet", () => {
    const rgba = new Uint8ClampedArray(12).fill(7);
    activationAlpha(rgba, [0, 0.5, 1], 0.2);
    assert.deepEqual([rgba[3], rgba[7], rgba[11]], [51, 153, 255]); // 255 * (0.2 + 0.8 v)
    assert.deepEqual([rgba[0], rgba[4], rgba[8]], [7, 7, 7]); // colours untouched
  });
});
