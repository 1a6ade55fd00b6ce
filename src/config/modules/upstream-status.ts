/**
 * wsgate's own `wsgate_upstream_status;` in a location: the location answers
 * with the upstream groups' state as JSON (src/upstream/status.ts).
 */

import type { ConfModule } from "../module.js";
import { directiveError } from "../values.js";

export const UPSTREAM_STATUS_MODULE: ConfModule = {
  name: "wsgate_upstream_status",
  directives: [
    {
      name: "wsgate_upstream_status",
      contexts: ["location"],
      args: [0],
      handle: (scope, node) => {
        const location = scope.location!;
        if (location.upstreamStatus) throw directiveError(node, "is duplicate");
        location.upstreamStatus = true;
      },
    },
  ],
};
