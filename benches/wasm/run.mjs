// Times the wasm build of benches/wasm (the hostile bodies of benches/core.rs) in V8, the
// engine workerd runs the worker in. Prints a table like the native bench and the worst body.
// Usage: node run.mjs <module.wasm>; add --liftoff --no-wasm-tier-up to time V8's baseline
// compiler only (a cold isolate), instead of optimised code after tier-up.
import { readFileSync } from "node:fs";

const ROUNDS = 11;
const ROUND_TARGET_MS = 40;

const module = new WebAssembly.Module(readFileSync(process.argv[2]));
// The worker's own exports (wasm-bindgen) come along with the core; nothing here calls them.
const imports = {};
for (const { module: from, name, kind } of WebAssembly.Module.imports(module)) {
  if (kind !== "function") throw new Error(`unexpected import ${from}.${name} (${kind})`);
  imports[from] ??= {};
  imports[from][name] = () => {
    throw new Error(`${from}.${name} called`);
  };
}
const wasm = new WebAssembly.Instance(module, imports).exports;
const text = () =>
  new TextDecoder().decode(new Uint8Array(wasm.memory.buffer, wasm.text_ptr(), wasm.text_len()));

// Calibrates a batch to about ROUND_TARGET_MS, then returns the median and fastest ns/op.
function measure() {
  let batch = 1;
  for (;;) {
    const start = performance.now();
    wasm.run(batch);
    const elapsed = performance.now() - start;
    if (elapsed >= ROUND_TARGET_MS / 4 || batch >= 1 << 24) {
      batch = Math.max(1, Math.round((ROUND_TARGET_MS * batch) / Math.max(elapsed, 1e-3)));
      break;
    }
    batch *= 4;
  }
  const rounds = [];
  for (let i = 0; i < ROUNDS; i++) {
    const start = performance.now();
    wasm.run(batch);
    rounds.push(((performance.now() - start) * 1e6) / batch);
  }
  rounds.sort((a, b) => a - b);
  return { median: rounds[rounds.length >> 1], min: rounds[0] };
}

const pad = (s, n) => String(s).padStart(n);
console.log(`${"hostile body (verify, wasm)".padEnd(52)} ${pad("bytes", 8)} ${pad("median ns", 12)} ${pad("min ns", 12)} ${pad("answer", 18)}`);
let worst = null;
for (let i = 0; i < wasm.cases(); i++) {
  const bytes = wasm.prepare(i);
  const name = text();
  const first = performance.now();
  wasm.run(1);
  const firstNs = (performance.now() - first) * 1e6;
  const answer = text();
  const { median, min } = measure();
  console.log(`${name.padEnd(52)} ${pad(bytes, 8)} ${pad(median.toFixed(0), 12)} ${pad(min.toFixed(0), 12)} ${pad(answer, 18)}   first call ${(firstNs / 1000).toFixed(0)} us`);
  if (!worst || median > worst.median) worst = { name, median };
}
console.log(`worst hostile body in wasm: ${worst.name}, ${(worst.median / 1000).toFixed(0)} us`);
