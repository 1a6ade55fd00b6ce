// The "install" step: build the optional native tunnel (native/tunnel.c) with node-gyp where a compiler is
// present, as `ws` treats `bufferutil`. It never fails the install: without the addon the TypeScript tunnel is used.
// node-gyp comes with npm (npm_config_node_gyp in lifecycle scripts); npm_config_nodedir, when set, is passed on
// so that the build uses Node's own headers instead of downloading them.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const fallback = "wsgate: native tunnel not built; the TypeScript tunnel will be used";

function nodeGyp() {
  if (process.env.npm_config_node_gyp) return [process.execPath, process.env.npm_config_node_gyp];
  // Outside npm: the node-gyp that ships with npm, next to this node.
  const npmGyp = join(
    dirname(process.execPath),
    "..",
    "lib",
    "node_modules",
    "npm",
    "node_modules",
    "node-gyp",
    "bin",
    "node-gyp.js",
  );
  return [process.execPath, npmGyp];
}

if (process.env.WSGATE_NATIVE_TUNNEL === "off") {
  console.log(`${fallback} (WSGATE_NATIVE_TUNNEL=off)`);
} else {
  const [command, script] = nodeGyp();
  const args = [script, "rebuild"];
  // Node's own headers: npm's setting, else those installed with this node (no download either way).
  const prefix = join(dirname(process.execPath), "..");
  const nodedir =
    process.env.npm_config_nodedir || (existsSync(join(prefix, "include", "node", "node_api.h")) ? prefix : "");
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  const built = spawnSync(command, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
  if (built.status === 0) console.log("wsgate: native tunnel built (build/Release/wsgate_tunnel.node)");
  else {
    const why = `${built.error?.message ?? ""}${built.stderr ?? ""}`.split("\n").find((line) => /error/i.test(line));
    console.log(`${fallback}${why ? ` (${why.trim()})` : ""}`);
  }
}
