import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { channelOrder, curvePath, extent, filterMosaic } from "../src/logic/layers";

describe("channel order", () => {
  it("by index keeps 0..n-1; by a statistic sorts largest first, ties by index", () => {
    const stats = { layer: "l", mean: [0.1, 0.5, 0.5, -1], max: [3, 1, 2, 0], active: [0, 0, 0, 0] };
    assert.deepEqual(channelOrder(4, "channel", stats), [0, 1, 2, 3]);
    assert.deepEqual(channelOrder(4, "mean", stats), [1, 2, 0, 3]);
    assert.deepEqual(channelOrder(4, "max", stats), [0, 2, 1, 3]);
    assert.deepEqual(channelOrder(4, "active", stats), [0, 1, 2, 3]);
  });

  it("falls back to index order when the statistics are missing or of another layer's size", () => {
    assert.deepEqual(channelOrder(3, "max", null), [0, 1, 2]);
    assert.deepEqual(channelOrder(3, "max", { max: [1, 2] }), [0, 1, 2]);
  });
});

describe("filter mosaic", () => {
  it("packs two 1x2 RGB filters side by side with a transparent 1 px gap", () => {
    // filter 0: red left pixel, green right; filter 1: all blue (values in [0, 1], shape (F, C, kh, kw))
    const data = [1, 0, /* G */ 0, 1, /* B */ 0, 0, /* f1 R */ 0, 0, /* G */ 0, 0, /* B */ 1, 1];
    const m = filterMosaic(data, [2, 3, 1, 2], "rgb");
    assert.equal(m.width, 2 * 3 - 1); // ceil(sqrt(2)) = 2 columns of width 2, one gap
    assert.equal(m.height, 1);
    const px = (x: number) => Array.from(m.data.subarray(x * 4, x * 4 + 4));
    assert.deepEqual(px(0), [255, 0, 0, 255]);
    assert.deepEqual(px(1), [0, 255, 0, 255]);
    assert.deepEqual(px(2), [0, 0, 0, 0]);
    assert.deepEqual(px(3), [0, 0, 255, 255]);
    assert.deepEqual(m.origins, [[0, 0], [0, 3]]);
  });

  it("draws grey filters as one row per filter, one tile per input channel", () => {
    const data = [0, 1, 0.5, 0.25]; // (F=2, C=2, 1, 1)
    const m = filterMosaic(data, [2, 2, 1, 1], "grey");
    assert.equal(m.width, 3);
    assert.equal(m.height, 3);
    const at = (y: number, x: number) => m.data[(y * m.width + x) * 4];
    assert.deepEqual([at(0, 0), at(0, 2), at(2, 0), at(2, 2)], [0, 255, 128, 64]);
    assert.equal(m.data[(1 * m.width + 0) * 4 + 3], 0); // the gap row is transparent
  });

  it("shows a 1x1 convolution as its signed matrix, 0 mid grey and the largest magnitude black or white", () => {
    const m = filterMosaic([2, -2, 0, 1], [2, 2], "matrix");
    assert.deepEqual([m.width, m.height], [2, 2]);
    assert.deepEqual(Array.from(m.data.filter((_, i) => i % 4 === 0)), [255, 0, 128, 191]);
  });
});

describe("invariance curves", () => {
  it("scales points into the box with y up and breaks at missing values", () => {
    const box = { width: 100, height: 50 };
    assert.equal(curvePath([0, 1, 2], [0, 1, 0.5], box, [0, 2], [0, 1]), "M0.0,50.0L50.0,0.0L100.0,25.0");
    assert.equal(curvePath([0, 1, 2, 3], [0, NaN, 1, 1], box, [0, 3], [0, 1]), "M0.0,50.0M66.7,0.0L100.0,0.0");
  });

  it("extent pads a flat range and ignores non-finite values", () => {
    assert.deepEqual(extent([1, NaN, 3]), [1, 3]);
    assert.deepEqual(extent([2, 2]), [1.5, 2.5]);
    assert.deepEqual(extent([NaN]), [0, 1]);
  });
});
