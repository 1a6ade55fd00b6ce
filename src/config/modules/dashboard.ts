/**
 * wsgate's own `wsgate_dashboard;` in a location: the location serves a live
 * page of the server's figures (src/static/dashboard.ts), as `stub_status`
 * serves its text (content-flag.ts).
 */

import { contentFlagModule } from "./content-flag.js";

export const DASHBOARD_MODULE = contentFlagModule("wsgate_dashboard", "dashboard");
