/**
 * wsgate's own content handlers switched on by a bare directive in a
 * location (`wsgate_upstream_status;`, `wsgate_metrics;`,
 * `wsgate_dashboard;`), as `stub_status` is nginx's: the location answers
 * with the handler; a second one is "is duplicate"; not inherited by nested
 * locations, as stub_status is not.
 */

import type { LocationBuild } from "../build-scope.js";
import type { ConfModule } from "../module.js";
import { directiveError } from "../values.js";

/** The flags of LocationBuild that such a directive sets. */
export type ContentFlag = "upstreamStatus" | "metrics" | "dashboard";

/** The module of one such directive: `name` sets the location's `flag`. */
export function contentFlagModule(name: string, flag: ContentFlag): ConfModule {
  return {
    name,
    directives: [
      {
        name,
        contexts: ["location"],
        args: [0],
        handle: (scope, node) => {
          const location: LocationBuild = scope.location!;
          if (location[flag]) throw directiveError(node, "is duplicate");
          location[flag] = true;
        },
      },
    ],
  };
}
