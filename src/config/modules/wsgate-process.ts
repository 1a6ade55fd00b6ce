/**
 * wsgate's own process directives (off by default): how WebSocket tunnels are
 * ended when the process shuts down.
 *
 *   wsgate_close_frames on|off;   tunnels still open when the process ends them
 *                                 (worker_shutdown_timeout, end of a drain) get a
 *                                 1001 "Going Away" close frame both ways instead
 *                                 of a TCP cut
 *   wsgate_shutdown_drain TIME;   on a graceful shutdown (QUIT, old workers after
 *                                 a reload) close every tunnel with 1001, spread
 *                                 evenly over TIME; implies close frames
 */

import type { ConfModule } from "../module.js";
import type { DirectiveSpec } from "../table.js";
import { parseFlag, parseTimeMs, setOnce } from "../values.js";

export interface WsgateProcessMainConf {
  /** `wsgate_close_frames`: WebSocket tunnels ended at shutdown get 1001 close frames instead of a TCP cut. */
  wsgateCloseFrames: boolean;
  /** `wsgate_shutdown_drain`: at a graceful shutdown, tunnels are closed (1001) spread over this time. */
  wsgateShutdownDrainMs: number | undefined;
}

const WSGATE_PROCESS_DIRECTIVES: readonly DirectiveSpec[] = [
  {
    name: "wsgate_close_frames",
    contexts: ["main"],
    args: "flag",
    handle: (scope, node) => setOnce(scope.main, "wsgateCloseFrames", parseFlag(node, node.args[0]!), node),
  },
  {
    name: "wsgate_shutdown_drain",
    contexts: ["main"],
    args: [1],
    handle: (scope, node) => setOnce(scope.main, "wsgateShutdownDrainMs", parseTimeMs(node, node.args[0]!), node),
  },
];

export const WSGATE_PROCESS_MODULE: ConfModule<object, object, WsgateProcessMainConf> = {
  name: "wsgate_process",
  directives: WSGATE_PROCESS_DIRECTIVES,
  createMain: () => ({ wsgateCloseFrames: false, wsgateShutdownDrainMs: undefined }),
};
