import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeArray, unstack } from "../src/core/arrays";
import { lut } from "../src/logic/colormap";
import { blend, colorize, mapIndex, normalize } from "../src/logic/overlay";

function solid(width: number, height: number, rgb: [number, number, number]): Uint8ClampedArray {
  const px = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) px.set([...rgb, 255], i * 4);
  return px;
}

describe("overlay blending", () => {
  it("opacity 0 returns the picture and opacity 1 the colour map", () => {
    const base = solid(2, 2, [10, 20, 30]);
    const heat = new Float32Array([0, 1, 1, 0]);
    const gray = lut("gray");
    assert.deepEqual(Array.from(blend(base, 2, 2, heat, 2, 2, gray, 0)), Array.from(base));
    assert.deepEqual(Array.from(blend(base, 2, 2, heat, 2, 2, gray, 1)), [0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 255]);
  });

  it("mixes linearly: (1 - a) * base + a * colour, hand-computed", () => {
    const base = solid(1, 1, [200, 100, 0]);
    const out = blend(base, 1, 1, new Float32Array([1]), 1, 1, lut("gray"), 0.25);
    // 0.75 * 200 + 0.25 * 255 = 213.75 -> 214; 0.75 * 100 + 63.75 = 138.75 -> 139; 0 + 63.75 -> 64
    assert.deepEqual(Array.from(out), [214, 139, 64, 255]);
  });

  it("stretches a coarse map over a larger picture by nearest neighbour", () => {
    const base = solid(4, 4, [0, 0, 0]);
    const heat = new Float32Array([0, 1, 1, 0]); // 2x2: top-right and bottom-left hot
    const out = blend(base, 4, 4, heat, 2, 2, lut("gray"), 1);
    const at = (x: number, y: number) => out[(y * 4 + x) * 4];
    assert.deepEqual([at(0, 0), at(1, 1), at(2, 0), at(3, 1), at(0, 3), at(3, 3)], [0, 0, 255, 255, 255, 0]);
    assert.equal(mapIndex(3, 3, 4, 4, 2, 2), 3);
  });

  it("leaves the picture bare where the map is NaN (not computed yet)", () => {
    const base = solid(2, 1, [10, 20, 30]);
    const out = blend(base, 2, 1, new Float32Array([NaN, 1]), 1, 2, lut("gray"), 0.25);
    // NaN: the base pixel; 1 at opacity 0.25: 0.75 * 10 + 0.25 * 255 = 71.25 -> 71 (and 78.75, 86.25 -> 79, 86)
    assert.deepEqual(Array.from(out), [10, 20, 30, 255, 71, 79, 86, 255]);
  });

  it("colours the map alone at its own resolution", () => {
    const out = colorize(new Float32Array([0, 0.5, 1, 0]), 2, 2, lut("gray"));
    assert.deepEqual(Array.from(out), [0, 0, 0, 255, 128, 128, 128, 255, 255, 255, 255, 255, 0, 0, 0, 255]);
  });

  it("normalises by the largest magnitude and leaves all-zero maps at zero", () => {
    assert.deepEqual(Array.from(normalize([0, 2, 4, 1])), [0, 0.5, 1, 0.25]);
    assert.deepEqual(Array.from(normalize([0, 0])), [0, 0]);
    assert.equal(Array.from(normalize([0, Infinity, 2]))[2], 1);
  });

  it("lets the brightest 0.5% saturate so one outlier cannot darken a sparse map", () => {
    const values = Array.from({ length: 1000 }, (_, i) => (i < 995 ? i / 994 : 1000));
    const out = normalize(values);
    assert.equal(out[994], 1); // the 99.5th percentile is the top of the scale
    assert.ok(Math.abs(out[497] - 0.5) < 1e-6); // the rest scale by it, not by the outlier 1000
    assert.equal(out[999], 1); // outliers clamp
  });
});

describe("wire arrays", () => {
  it("honours byteOffset and byteLength of the DataView they arrive in", () => {
    const frame = new ArrayBuffer(64);
    const floats = new Float32Array(frame, 16, 4);
    floats.set([1.5, -2, 3, 4]);
    const arr = decodeArray({ dtype: "float32", shape: [2, 2], buffer: new DataView(frame, 16, 16) })!;
    assert.deepEqual(Array.from(arr.data), [1.5, -2, 3, 4]);
    assert.deepEqual(arr.shape, [2, 2]);
  });

  it("copies when a float buffer is not 4-byte aligned", () => {
    const frame = new ArrayBuffer(16);
    const view = new DataView(frame, 1, 8);
    view.setFloat32(0, 0.25, true);
    view.setFloat32(4, 7, true);
    assert.deepEqual(Array.from(decodeArray({ dtype: "float32", shape: [2], buffer: view })!.data), [0.25, 7]);
  });

  it("rejects unknown dtypes and tolerates an empty trait", () => {
    assert.equal(decodeArray(null), null);
    assert.throws(() => decodeArray({ dtype: "int64" as "uint8", shape: [1], buffer: new ArrayBuffer(8) }), /int64/);
  });
});

describe("stacks of maps", () => {
  it("split into views of each (h, w) map without copying", () => {
    const data = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const maps = unstack({ data, shape: [3, 2, 2] });
    assert.deepEqual(maps.map((m) => Array.from(m.data)), [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]);
    assert.deepEqual(maps[2].shape, [2, 2]);
    assert.equal(maps[1].data.buffer, data.buffer);
  });

  it("gives nothing for an empty stack", () => {
    assert.deepEqual(unstack({ data: new Float32Array(0), shape: [0, 4, 4] }), []);
  });
});
