/**
 * wsgate's own `wsgate_dashboard;` in a location: the location serves a live
 * page of the server's figures (src/static/dashboard.ts), as `stub_status`
 * serves its text. Not inherited by nested locations, as stub_status is not.
 */

import type { ConfModule } from "../module.js";
import { directiveError } from "../values.js";

export const DASHBOARD_MODULE: ConfModule = {
  name: "wsgate_dashboard",
  directives: [
    {
      name: "wsgate_dashboard",
      contexts: ["location"],
      args: [0],
      handle: (scope, node) => {
        const location = scope.location!;
        if (location.dashboard) throw directiveError(node, "is duplicate");
        location.dashboard = true;
      },
    },
  ],
};
