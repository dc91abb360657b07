// The build: the app's sources and onnxruntime-web's WebAssembly build copied, as they are, into
// the Python package (workbench/web/assets), which exports them with each model. No bundler: the
// browser loads ES modules natively.
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "workbench", "web", "assets");
const ort = join(here, "node_modules", "onnxruntime-web", "dist");
// The WebAssembly-only build (no WebGPU/WebGL), its loader and its module.
const RUNTIME = ["ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"];

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const name of readdirSync(join(here, "src"))) copyFileSync(join(here, "src", name), join(out, name));
for (const name of RUNTIME) copyFileSync(join(ort, name), join(out, name));
console.log(`web app built into ${out}`);
