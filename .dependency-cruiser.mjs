/**
 * wsgate's layers, checked by `npm run lint` (depcruise). A folder may import
 * its own layer and the ones below, never one above; and no runtime import
 * cycle, between files or folders. Type-only imports (erased by tsc) are not
 * dependencies at run time and are left out of both checks.
 */

/** Bottom → top. Each entry: a name and the paths (under src/) it holds. */
const LAYERS = [
  // Errors and codecs; version.ts is a leaf of constants every layer may read.
  ["core", "^src/(core/|version[.]ts$)"],
  ["vars", "^src/vars/"],
  ["log", "^src/log/"],
  ["config", "^src/config/"],
  ["upstream", "^src/upstream/"],
  ["http", "^src/http/"],
  // The content handlers.
  ["content", "^src/(proxy|static)/"],
  ["process", "^src/process/"],
  // The command line and the examples: the top.
  ["entry", "^src/(cli[.]ts|cli-options[.]ts|examples/)"],
];

const runtimeOnly = { dependencyTypesNot: ["type-only"] };

const layerRules = LAYERS.slice(0, -1).map(([name, path], index) => ({
  name: `layer-${name}`,
  comment: `${name} may not import a layer above it (${LAYERS.slice(index + 1)
    .map(([above]) => above)
    .join(", ")})`,
  severity: "error",
  from: { path },
  to: { path: LAYERS.slice(index + 1).map(([, above]) => above), ...runtimeOnly },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: "no-circular",
      comment: "A runtime import cycle: modules half-initialised at load time, and no layer order.",
      severity: "error",
      from: {},
      to: { circular: true, ...runtimeOnly, viaOnly: runtimeOnly },
    },
    {
      name: "no-circular-folders",
      comment: "Folders that import each other at run time (within one layer too): one of them owns the other's part.",
      severity: "error",
      scope: "folder",
      from: {},
      to: { circular: true },
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    exclude: { path: "^(dist|node_modules)/" },
  },
};
