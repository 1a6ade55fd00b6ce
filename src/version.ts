/**
 * Versions. wsgate follows the behaviour of one nginx release; tools that read
 * `nginx -V` get that release's number, and wsgate's own beside it.
 */

/** The nginx release whose behaviour wsgate follows. */
export const NGINX_VERSION = "1.28.0";

/** wsgate's own version (package.json). */
export const WSGATE_VERSION = "0.1.0";

/** The product token in Server headers and error pages. */
export const SERVER_TOKEN = `wsgate/${WSGATE_VERSION}`;
export const SERVER_TOKEN_BARE = "wsgate";
