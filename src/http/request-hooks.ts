/**
 * What the request flow lends each request (HttpRequest.hooks): one object
 * per kind of request for the whole flow, where each request used to carry
 * closures of its own — the error log in force and the worker's connection
 * counters ($connections_*: the whole server's, as nginx's shared counters,
 * the other workers' as last heard).
 */

import type { ErrorLog } from "../log/error-log.js";
import type { ConnectionCounters } from "../vars/source.js";
import type { HttpRequest, RequestHooks } from "./request.js";
import { withOtherProcesses } from "./server-figures.js";
import type { ConnectionStats } from "./content-handler.js";

export interface FlowHooks {
  /** A client's request. */
  readonly request: RequestHooks;
  /** A request refused before a server was chosen: its error log, no counters. */
  readonly early: RequestHooks;
  /** A subrequest: its counters as they are. */
  readonly subrequest: RequestHooks;
}

export function flowHooks(errorLogFor: (r: HttpRequest) => ErrorLog, stats: () => ConnectionStats): FlowHooks {
  const counters = (): ConnectionCounters => withOtherProcesses(stats());
  return {
    request: {
      errorLogFor,
      // ngx_http_free_request() takes the request off the writing count before it is logged.
      connectionStats: (r) => {
        const now = counters();
        return r.finished ? { ...now, writing: Math.max(0, now.writing - 1) } : now;
      },
    },
    early: { errorLogFor, connectionStats: () => undefined },
    subrequest: { errorLogFor, connectionStats: counters },
  };
}
