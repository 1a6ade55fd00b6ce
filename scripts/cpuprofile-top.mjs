#!/usr/bin/env node
// Sums the self time of a V8 .cpuprofile (node --cpu-prof) by function and prints the top entries:
// the bottom-up view, as a table. Usage: node scripts/cpuprofile-top.mjs FILE.cpuprofile [N] [--by-file]
import { readFileSync } from "node:fs";

const [file, count = "40", flag] = process.argv.slice(2);
if (!file) {
  process.stderr.write("usage: node scripts/cpuprofile-top.mjs FILE.cpuprofile [N] [--by-file]\n");
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, "utf8"));
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
// Each sample names the node on top of the stack; timeDeltas[i] is the time before sample i.
const self = new Map();
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const node = byId.get(profile.samples[i]);
  const delta = profile.timeDeltas[i] ?? 0;
  const frame = node.callFrame;
  const where = frame.url.replace(/^.*\/(dist|node_modules)\//, "$1/").replace(/^node:/, "node:");
  const key =
    flag === "--by-file"
      ? where || "(native)"
      : `${frame.functionName || "(anonymous)"} ${where}:${frame.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + delta);
  total += delta;
}
const idle = [...self].filter(([key]) => key.startsWith("(idle)")).reduce((sum, [, time]) => sum + time, 0);
process.stdout.write(`total ${(total / 1000).toFixed(0)} ms, idle ${(idle / 1000).toFixed(0)} ms\n`);
for (const [key, time] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(count))) {
  process.stdout.write(
    `${((time / (total - idle)) * 100).toFixed(1).padStart(5)}%  ${(time / 1000).toFixed(0).padStart(6)} ms  ${key}\n`,
  );
}
