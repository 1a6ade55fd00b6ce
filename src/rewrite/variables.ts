/**
 * `set` variables are defined while the configuration is read
 * (src/config/rewrite/set-variables.ts), and `set` writes the request's
 * variable cache directly (run.ts). What the request flow needs at run time
 * is the hook for nginx's "using uninitialized variable" warning, kept beside
 * the definition that calls it and re-exported here.
 */

export { onUninitializedVariable } from "../config/rewrite/set-variables.js";
