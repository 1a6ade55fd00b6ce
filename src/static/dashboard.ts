/**
 * The content handler of a `wsgate_dashboard` location: a live page of the
 * server's figures. In `location /dashboard { wsgate_dashboard; }`:
 *
 *   /dashboard                  301 to /dashboard/ (as nginx redirects to a directory)
 *   /dashboard/                 the page (dashboard/index.html)
 *   /dashboard/<file>           its files: dashboard.js, dashboard.css, and uPlot's
 *                               uPlot.iife.min.js and uPlot.min.css
 *   /dashboard/events           the live feed (dashboard-feed.ts)
 *   anything else               404
 *
 * Methods as nginx's static module answers them: GET and HEAD are served;
 * POST is 404 where there is nothing and 405 where there is; any other
 * method is 405. In a regex or exact location the name is the URI's last
 * segment (an empty one is the page).
 */

import type { ContentFlow, ContentHandler } from "../http/content-handler.js";
import { ownResponseHead } from "../http/own-response.js";
import type { HttpRequest } from "../http/request.js";
import { sendWhole } from "../http/response-writer.js";
import { dashboardAsset } from "./dashboard-assets.js";
import { openFeed } from "./dashboard-feed.js";
import { discardBody } from "./services.js";

/** The feed's name under the location. */
const EVENTS = "events";

/** What a URI asks of the dashboard: the page or a file by name, the feed, a redirect to the page, or nothing. */
type Route =
  | { readonly kind: "asset"; readonly name: string }
  | { readonly kind: "events" }
  | { readonly kind: "redirect" }
  | { readonly kind: "none" };

export const dashboardHandler: ContentHandler = {
  name: "wsgate_dashboard",
  claims: ({ location }) => location?.dashboard === true,
  handle: serveDashboard,
};

function serveDashboard(r: HttpRequest, flow: ContentFlow): void {
  discardBody(r);
  const method = r.method;
  if (method !== "GET" && method !== "HEAD" && method !== "POST") {
    flow.respondError(r, 405);
    return;
  }
  const route = routeOf(r);
  if (route.kind === "none") {
    flow.respondError(r, 404);
    return;
  }
  if (method === "POST") {
    flow.respondError(r, 405);
    return;
  }
  if (route.kind === "redirect") {
    // Made absolute (or not) by the header filter, as the static module's redirect to a directory.
    r.outLocation = r.uri + "/" + (r.args !== "" ? "?" + r.args : "");
    flow.respondError(r, 301);
    return;
  }
  if (route.kind === "events") {
    openFeed(r, flow);
    return;
  }
  serveAsset(r, flow, route.name);
}

/** The route of r.uri under its location. */
export function routeOf(r: HttpRequest): Route {
  const location = r.location;
  const prefix = location !== undefined && (location.modifier === "" || location.modifier === "^~");
  let rest: string;
  if (prefix) {
    const base = location.path.endsWith("/") ? location.path.slice(0, -1) : location.path;
    rest = r.uri.slice(base.length);
    if (rest === "") return { kind: "redirect" };
  } else rest = r.uri.slice(r.uri.lastIndexOf("/"));
  const name = rest.slice(1);
  if (!rest.startsWith("/") || name.includes("/")) return { kind: "none" };
  if (name === EVENTS) return { kind: "events" };
  return dashboardAsset(name) === undefined ? { kind: "none" } : { kind: "asset", name };
}

function serveAsset(r: HttpRequest, flow: ContentFlow, name: string): void {
  const asset = dashboardAsset(name)!;
  if (asset instanceof Error) {
    flow.errorLogFor(r).log("alert", `the dashboard's "${name || "index.html"}": ${asset.message}`, r.logContext());
    flow.respondError(r, 500);
    return;
  }
  const head = ownResponseHead(r, {
    status: 200,
    contentType: asset.contentType,
    contentLength: asset.body.length,
    charsetFiltered: true,
  });
  sendWhole(r, 200, head, asset.body, (req, keepAlive) => flow.finalize(req, keepAlive));
}
