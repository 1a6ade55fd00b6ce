/**
 * How a request body is read before it goes upstream: proxy_request_buffering
 * (ngx_http_proxy_module), client_body_buffer_size, client_body_temp_path and
 * client_body_in_file_only (ngx_http_core_module).
 */

import type { DirectiveNode } from "../parser.js";
import { resolveFromPrefix } from "../paths.js";
import { HTTP_CONTEXTS, type DirectiveSpec } from "../table.js";
import { directiveError, locFlag, parseSize, setOnce, valueError } from "../values.js";
import type { ConfModule } from "../module.js";

export interface RequestBodyLocConf {
  proxyRequestBuffering: boolean;
  /** client_body_buffer_size: a buffered request body past this goes to a temporary file. */
  clientBodyBufferSize: number;
  clientBodyTempPath: TempPath;
  /**
   * client_body_in_file_only: `on` writes every body read to a file that is
   * kept after the request; `clean` removes it when the request is over.
   */
  clientBodyInFileOnly: "off" | "on" | "clean";
}

/** A temporary-file folder (ngx_path_t): absolute path, and the lengths of its hashed subfolders. */
export interface TempPath {
  readonly path: string;
  readonly levels: readonly number[];
}

const REQUEST_BODY_DIRECTIVES: readonly DirectiveSpec[] = [
  locFlag("proxy_request_buffering", "proxyRequestBuffering"),
  {
    name: "client_body_buffer_size",
    contexts: HTTP_CONTEXTS,
    args: [1],
    handle: (scope, node) => setOnce(scope.loc!, "clientBodyBufferSize", parseSize(node, node.args[0]!), node),
  },
  {
    name: "client_body_temp_path",
    contexts: HTTP_CONTEXTS,
    args: [1, 2, 3, 4],
    handle: (scope, node) =>
      setOnce(scope.loc!, "clientBodyTempPath", parseTempPath(node, scope.prefixes.prefix), node),
  },
  {
    // ngx_conf_set_enum_slot with ngx_http_core_request_body_in_file: "invalid value" for another word.
    name: "client_body_in_file_only",
    contexts: HTTP_CONTEXTS,
    args: [1],
    handle: (scope, node) => {
      // ngx_conf_set_enum_slot: a second line is duplicate before its value is looked at.
      if (scope.loc!.clientBodyInFileOnly !== undefined) throw directiveError(node, "is duplicate");
      const value = node.args[0]!.toLowerCase();
      if (value !== "off" && value !== "on" && value !== "clean") {
        throw valueError(node, `invalid value "${node.args[0]!}"`);
      }
      setOnce(scope.loc!, "clientBodyInFileOnly", value, node);
    },
  },
];

export const REQUEST_BODY_MODULE: ConfModule<RequestBodyLocConf> = {
  name: "request body",
  directives: REQUEST_BODY_DIRECTIVES,
  createLoc: ({ prefixes }) => ({
    proxyRequestBuffering: true,
    // Two memory pages, as nginx on x86-64.
    clientBodyBufferSize: 8192,
    clientBodyTempPath: { path: resolveFromPrefix(prefixes.prefix, "client_body_temp"), levels: [] },
    clientBodyInFileOnly: "off",
  }),
};

/** ngx_conf_set_path_slot(): a path from the prefix, then up to three levels of 1 or 2 … digits, 10 in all. */
export function parseTempPath(node: DirectiveNode, prefix: string): TempPath {
  let path = node.args[0]!;
  if (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
  const levels: number[] = [];
  for (const arg of node.args.slice(1)) {
    const level = /^\d+$/.test(arg) ? Number(arg) : 0;
    if (level === 0) throw directiveError(node, "invalid value");
    levels.push(level);
  }
  if (levels.reduce((sum, level) => sum + level, 0) > 10) throw directiveError(node, "invalid value");
  return { path: resolveFromPrefix(prefix, path), levels };
}
