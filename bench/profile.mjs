// A CPU profile of a worker running under `wrangler dev`, taken through its inspector (the
// Chrome DevTools protocol) while something else loads it, e.g. `wrk`:
//
//   node bench/profile.mjs INSPECTOR_PORT SECONDS [OUT.cpuprofile]
//
// Prints the functions with the most self time (wasm functions by name when the module keeps
// its name section: profile a `worker-build --release` output before build_worker strips it),
// and, with OUT, writes the whole profile for DevTools. Node 22 (global WebSocket, fetch).
import { writeFileSync } from "node:fs";

const [port, seconds = "10", out] = process.argv.slice(2);
if (!port) {
  console.error("usage: node bench/profile.mjs INSPECTOR_PORT SECONDS [OUT.cpuprofile]");
  process.exit(2);
}

const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
const target = targets.find((t) => t.webSocketDebuggerUrl) ?? {};
if (!target.webSocketDebuggerUrl) {
  console.error("no inspectable worker at port", port, JSON.stringify(targets));
  process.exit(1);
}
// Wrangler's inspector proxy refuses an upgrade without an `Origin`; Node's WebSocket takes
// extra headers as an option.
const ws = new WebSocket(target.webSocketDebuggerUrl, {
  headers: { origin: `http://127.0.0.1:${port}` },
});
await new Promise((resolve, reject) => {
  ws.onopen = resolve;
  ws.onerror = reject;
});
let nextId = 1;
const pending = new Map();
ws.onmessage = (event) => {
  const message = JSON.parse(event.data);
  const done = pending.get(message.id);
  if (done) {
    pending.delete(message.id);
    done(message);
  }
};
const send = (method, params = {}) =>
  new Promise((resolve) => {
    const id = nextId++;
    pending.set(id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });

await send("Profiler.enable");
await send("Profiler.setSamplingInterval", { interval: 1000 });
await send("Profiler.start");
await new Promise((resolve) => setTimeout(resolve, Number(seconds) * 1000));
const { result, error } = await send("Profiler.stop");
ws.close();
if (!result) {
  console.error("Profiler.stop failed:", JSON.stringify(error));
  process.exit(1);
}
const profile = result.profile;
if (out) writeFileSync(out, JSON.stringify(profile));

// Self time per function: each sample counts for its node, nodes are summed by name.
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const hits = new Map();
for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
const self = new Map();
let total = 0;
for (const [id, count] of hits) {
  const frame = byId.get(id).callFrame;
  const name = `${frame.functionName || "(anonymous)"} ${frame.url ? frame.url.split("/").pop() : ""}`.trim();
  self.set(name, (self.get(name) ?? 0) + count);
  total += count;
}
console.log(`${total} samples`);
for (const [name, count] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 40)) {
  console.log(`${((100 * count) / total).toFixed(1).padStart(5)} %  ${name}`);
}
