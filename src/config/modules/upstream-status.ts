/**
 * wsgate's own `wsgate_upstream_status;` in a location: the location answers
 * with the upstream groups' state as JSON (src/upstream/status.ts; content-flag.ts).
 */

import { contentFlagModule } from "./content-flag.js";

export const UPSTREAM_STATUS_MODULE = contentFlagModule("wsgate_upstream_status", "upstreamStatus");
