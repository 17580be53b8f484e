import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { aucText, sanityCaption } from "../src/logic/analysis";
import { MAX_UPLOAD_BYTES, megabytes, uploadProblem } from "../src/logic/files";
import { gridColumns } from "../src/logic/layout";

describe("faithfulness captions", () => {
  it("caption a sanity step with its layer and rank correlation", () => {
    assert.deepEqual(sanityCaption("original", 1), { rho: "ρ 1.00", layer: "original" });
    assert.deepEqual(sanityCaption("_blocks.13._project_conv", -0.3282), { rho: "ρ -0.33", layer: "_blocks.13._project_conv" });
  });

  it("state both AUCs and which way is better", () => {
    const text = aucText(
      { method: "gradcam", fractions: [0, 1], deletion: [1, 0], insertion: [0, 1], deletion_auc: 0.06771, insertion_auc: 0.39012 },
      "Grad-CAM",
    );
    assert.equal(text, "Grad-CAM: deletion AUC 0.068 (lower is better) · insertion AUC 0.390 (higher is better)");
  });
});

describe("upload limit", () => {
  it("lets files up to 20 MB through", () => {
    assert.equal(MAX_UPLOAD_BYTES, 20 * 1024 * 1024);
    assert.equal(uploadProblem("cat.png", 1234), null);
    assert.equal(uploadProblem("big.png", MAX_UPLOAD_BYTES), null);
  });

  it("refuses bigger and empty files with a message naming the file and the limit", () => {
    assert.equal(uploadProblem("huge.tif", MAX_UPLOAD_BYTES + 1), "huge.tif is 20.0 MB; uploads are limited to 20 MB");
    assert.equal(uploadProblem("huge.tif", 25.3 * 2 ** 20), "huge.tif is 25.3 MB; uploads are limited to 20 MB");
    assert.equal(uploadProblem("nothing.png", 0), "nothing.png is empty");
    assert.equal(uploadProblem("a.png", 2048, 1024), "a.png is 0.0 MB; uploads are limited to 0.0 MB");
    assert.equal(megabytes(3 * 2 ** 20), "3 MB");
  });
});

describe("grid layout", () => {
  it("makes near-square grids, capped in width", () => {
    assert.deepEqual([1, 2, 4, 5, 9, 10, 16, 30].map((n) => gridColumns(n)), [1, 2, 2, 3, 3, 4, 4, 4]);
    assert.equal(gridColumns(9, 2), 2);
    assert.equal(gridColumns(0), 1);
  });
});
