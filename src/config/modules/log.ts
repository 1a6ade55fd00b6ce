/**
 * ngx_http_log_module (log_format, access_log) and the http-level error_log
 * and log_subrequest of ngx_http_core_module.
 */

import type { ErrorLogTarget } from "../model.js";
import type { ConfModule } from "../module.js";
import type { DirectiveNode } from "../parser.js";
import { resolveFromPrefix, type Prefixes } from "../paths.js";
import { placeOf, type DirectiveSpec } from "../table.js";
import { locFlag, parseSize, parseTimeMs, valueError } from "../values.js";
import { parseErrorLog } from "./core.js";
import type { HttpBuild } from "../build-scope.js";
import { LogFormat, parseEscape } from "../../log/format.js";
import { ComplexValue } from "../../vars/complex-value.js";

import type { AccessLogTarget } from "../../log/access-log.js";
export type { AccessLogTarget };

export interface LogLocConf {
  /** The access_log lines of the nearest level that has any; "off" = access_log off. */
  accessLogs: readonly AccessLogTarget[] | "off";
  /** The error_log lines of the nearest level that has any; undefined: the main level's. */
  errorLogs: readonly ErrorLogTarget[] | undefined;
  /** log_subrequest: a subrequest (auth_request's) writes its own access-log line. */
  logSubrequest: boolean;
}

const ACCESS_LOG_CONTEXTS = ["http", "server", "location", "if-in-location", "limit_except"] as const;

const LOG_DIRECTIVES: readonly DirectiveSpec[] = [
  {
    name: "log_format",
    contexts: ["http"],
    args: "2more",
    handle: (scope, node) => {
      const http = scope.http!;
      const [name, ...rest] = node.args as [string, ...string[]];
      if (http.logFormats.has(name)) throw valueError(node, `duplicate "log_format" name "${name}"`);
      const escape = parseEscape(rest[0]!, placeOf(node));
      const strings = escape ? rest.slice(1) : rest;
      if (strings.length === 0) throw valueError(node, `invalid number of arguments in "log_format" directive`);
      http.logFormats.set(
        name,
        LogFormat.compile(name, escape ?? "default", strings.join(""), http.registry, placeOf(node)),
      );
    },
  },
  {
    name: "access_log",
    contexts: ACCESS_LOG_CONTEXTS,
    args: "1more",
    handle: (scope, node) => {
      const loc = scope.loc!;
      if (node.args[0] === "off") {
        if (node.args.length > 1) throw valueError(node, `invalid parameter "${node.args[1]!}"`);
        loc.accessLogs = "off";
        return;
      }
      const target = parseAccessLog(node, scope.http!, scope.prefixes);
      if (loc.accessLogs === "off") return; // nginx: "off" at a level wins over the other lines there
      loc.accessLogs = [...(loc.accessLogs ?? []), target];
    },
  },
  {
    name: "error_log",
    contexts: ["http", "server", "location"],
    args: "1more",
    handle: (scope, node) => {
      const loc = scope.loc!;
      loc.errorLogs = [...(loc.errorLogs ?? []), parseErrorLog(node, scope.prefixes)];
    },
  },
  locFlag("log_subrequest", "logSubrequest"),
];

export const LOG_MODULE: ConfModule<LogLocConf> = {
  name: "ngx_http_log_module",
  directives: LOG_DIRECTIVES,
  // nginx's default: logs/access.log in the combined format.
  createLoc: ({ prefixes, http }) => ({
    accessLogs: [
      {
        path: resolveFromPrefix(prefixes.prefix, "logs/access.log"),
        format: http.logFormats.get("combined")!,
        bufferBytes: 0,
        flushMs: 0,
        condition: undefined,
      },
    ],
    errorLogs: undefined,
    logSubrequest: false,
  }),
};

/** `access_log path [format [buffer=size] [flush=time] [if=condition]]`. */
function parseAccessLog(node: DirectiveNode, http: HttpBuild, prefixes: Prefixes): AccessLogTarget {
  const [path, formatName, ...parameters] = node.args as [string, string | undefined, ...string[]];
  if (path.startsWith("syslog:")) throw valueError(node, `"syslog:" logging is not supported by wsgate`);
  if (path.includes("$")) throw valueError(node, `variables in "access_log" paths are not supported by wsgate yet`);
  const format = http.logFormats.get(formatName ?? "combined");
  if (!format) throw valueError(node, `unknown log format "${formatName ?? "combined"}"`);
  let bufferBytes = 0;
  let flushMs = 0;
  let condition: ComplexValue | undefined;
  for (const parameter of parameters) {
    if (parameter.startsWith("buffer=")) bufferBytes = parseSize(node, parameter.slice(7));
    else if (parameter.startsWith("flush=")) flushMs = parseTimeMs(node, parameter.slice(6));
    else if (parameter.startsWith("if="))
      condition = ComplexValue.compile(parameter.slice(3), http.registry, placeOf(node));
    else if (parameter === "gzip" || parameter.startsWith("gzip=")) {
      throw valueError(node, `the "gzip" parameter of "access_log" is not supported by wsgate`);
    } else throw valueError(node, `invalid parameter "${parameter}"`);
  }
  if (flushMs > 0 && bufferBytes === 0) bufferBytes = 64 * 1024;
  const file = path === "stderr" ? "stderr" : resolveFromPrefix(prefixes.prefix, path);
  return { path: file, format, bufferBytes, flushMs, condition };
}
