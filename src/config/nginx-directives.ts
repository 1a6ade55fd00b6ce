// Temporary: replaced by the full catalogue.
export const NGINX_DIRECTIVES: ReadonlyMap<string, readonly string[]> = new Map([
  ["gzip", ["http", "server", "location", "if-in-location"]],
  ["if", ["server", "location"]],
  ["return", ["server", "location", "if-in-server", "if-in-location"]],
]);
