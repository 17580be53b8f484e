// JS unit tests: esbuild compiles test/*.test.ts to plain ES modules, Node's built-in runner executes them.
// (No vitest: its vite/rollup tree needs platform binaries that not every registry mirror carries.)
import * as esbuild from "esbuild";
import { spawnSync } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";

const outdir = "node_modules/.cnnviz-test";
rmSync(outdir, { recursive: true, force: true });
const entries = readdirSync("test").filter((f) => f.endsWith(".test.ts")).map((f) => `test/${f}`);
await esbuild.build({
  entryPoints: entries, outdir, bundle: true, format: "esm", platform: "node", outExtension: { ".js": ".mjs" },
  logLevel: "warning",
});
const files = entries.map((f) => `${outdir}/${f.slice("test/".length).replace(/\.ts$/, ".mjs")}`);
const run = spawnSync(process.execPath, ["--test", ...files], { stdio: "inherit" });
process.exit(run.status ?? 1);
