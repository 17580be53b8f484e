// Builds ONE self-contained ES module (no code splitting: anywidget loads it from a blob URL) and one CSS
// file into the Python package. `--watch` rebuilds on change; with ANYWIDGET_HMR=1 the kernel hot-reloads.
import * as esbuild from "esbuild";

const options = {
  entryPoints: { widget: "src/index.ts" },
  outdir: "../cnnviz_widgets/static",
  bundle: true,
  format: "esm",
  target: "es2020",
  minify: !process.argv.includes("--watch"),
  sourcemap: false,
  splitting: false,
  // UMD dependencies must never see an AMD loader (Notebook/Colab pages have RequireJS).
  define: { "define.amd": "undefined" },
  logLevel: "info",
};
const css = { ...options, entryPoints: { widget: "src/styles.css" }, define: undefined };

if (process.argv.includes("--watch")) {
  for (const o of [options, css]) await (await esbuild.context(o)).watch();
} else {
  await Promise.all([esbuild.build(options), esbuild.build(css)]);
}
