/**
 * The main and events contexts (ngx_core_module, ngx_errlog_module,
 * ngx_events_module): process settings, the pid file and the error log.
 */

import { ConfigError, type SourcePlace } from "../../core/errors.js";
import { LOG_LEVELS, type ErrorLogTarget, type LogLevel } from "../model.js";
import type { ConfModule } from "../module.js";
import type { DirectiveNode } from "../parser.js";
import { resolveFromPrefix, type Prefixes } from "../paths.js";
import { placeOf, type DirectiveSpec } from "../table.js";
import { configWarning, directiveError, parseFlag, parseNumber, parseTimeMs, setOnce, valueError } from "../values.js";

/** The process settings of ngx_core_module, ngx_errlog_module and ngx_events_module. */
export interface CoreMainConf {
  daemon: boolean;
  masterProcess: boolean;
  workerProcesses: number | "auto";
  /** Absolute path of the pid file. */
  pid: string;
  errorLogs: ErrorLogTarget[];
  workerConnections: number;
  workerShutdownTimeoutMs: number | undefined;
  workerRlimitNofile: number | undefined;
  user: { user: string; group: string; place?: SourcePlace } | undefined;
}

const CORE_DIRECTIVES: readonly DirectiveSpec[] = [
  {
    name: "include",
    contexts: [
      "main",
      "events",
      "http",
      "server",
      "location",
      "upstream",
      "if-in-server",
      "if-in-location",
      "limit_except",
    ],
    args: [1],
    // The parser expands include in place; a row exists so `include x { }` is refused as nginx refuses it.
    handle: () => undefined,
  },
  {
    // nginx dlopen()s the file (its path against the prefix); wsgate has no dynamic modules, so the
    // line is accepted with a warning and the module's own directives are still refused by name.
    name: "load_module",
    contexts: ["main"],
    args: [1],
    handle: (scope, node) => {
      // ngx_load_module: modules are counted when the events or http block is read.
      if (scope.main.eventsSeen || scope.main.http) throw directiveError(node, "is specified too late");
      configWarning(scope, node, `load_module "${node.args[0]!}" is not loaded: wsgate has no dynamic modules`);
    },
  },
  {
    name: "daemon",
    contexts: ["main"],
    args: "flag",
    handle: (scope, node) => setOnce(scope.main, "daemon", parseFlag(node, node.args[0]!), node),
  },
  {
    name: "master_process",
    contexts: ["main"],
    args: "flag",
    handle: (scope, node) => setOnce(scope.main, "masterProcess", parseFlag(node, node.args[0]!), node),
  },
  {
    name: "worker_processes",
    contexts: ["main"],
    args: [1],
    handle: (scope, node) => {
      const value = node.args[0]!;
      setOnce(scope.main, "workerProcesses", value === "auto" ? "auto" : parseWorkerCount(node, value), node);
    },
  },
  {
    name: "pid",
    contexts: ["main"],
    args: [1],
    handle: (scope, node) => setOnce(scope.main, "pid", resolveFromPrefix(scope.prefixes.prefix, node.args[0]!), node),
  },
  {
    name: "user",
    contexts: ["main"],
    args: [1, 2],
    handle: (scope, node) => {
      const [user, group] = node.args as [string, string | undefined];
      setOnce(scope.main, "user", { user, group: group ?? user, place: placeOf(node) }, node);
    },
  },
  {
    name: "worker_rlimit_nofile",
    contexts: ["main"],
    args: [1],
    handle: (scope, node) => setOnce(scope.main, "workerRlimitNofile", parseNumber(node, node.args[0]!), node),
  },
  {
    name: "worker_shutdown_timeout",
    contexts: ["main"],
    args: [1],
    handle: (scope, node) => setOnce(scope.main, "workerShutdownTimeoutMs", parseTimeMs(node, node.args[0]!), node),
  },
  {
    name: "error_log",
    contexts: ["main"],
    args: "1more",
    handle: (scope, node) => {
      scope.main.errorLogs ??= [];
      scope.main.errorLogs.push(parseErrorLog(node, scope.prefixes));
    },
  },
  {
    name: "events",
    contexts: ["main"],
    args: [0],
    block: true,
    handle: (scope, node, walk) => {
      if (scope.main.eventsSeen) throw directiveError(node, "is duplicate");
      scope.main.eventsSeen = true;
      walk(node.block!, { ...scope, context: "events" });
    },
  },
  {
    name: "worker_connections",
    contexts: ["events"],
    args: [1],
    handle: (scope, node) => {
      const count = parseNumber(node, node.args[0]!);
      setOnce(scope.main, "workerConnections", count, node);
    },
  },
];

export const CORE_MODULE: ConfModule<object, object, CoreMainConf> = {
  name: "ngx_core_module",
  directives: CORE_DIRECTIVES,
  createMain: ({ prefixes, defaultErrorLog }) => ({
    daemon: true,
    masterProcess: true,
    workerProcesses: 1,
    pid: resolveFromPrefix(prefixes.prefix, "logs/nginx.pid"),
    errorLogs: [{ path: defaultErrorLog ?? resolveFromPrefix(prefixes.prefix, "logs/error.log"), level: "error" }],
    workerConnections: 512,
    workerShutdownTimeoutMs: undefined,
    workerRlimitNofile: undefined,
    user: undefined,
  }),
};

function parseWorkerCount(node: DirectiveNode, value: string): number {
  if (!/^\d+$/.test(value))
    throw new ConfigError("invalid-value", `invalid value "${value}" in "${node.name}" directive`, placeOf(node));
  return Number(value);
}

/** `error_log FILE [LEVEL]`: "stderr" or a path from the prefix; level defaults to error. */
export function parseErrorLog(node: DirectiveNode, prefixes: Prefixes): ErrorLogTarget {
  const [file, level, ...rest] = node.args as [string, string | undefined, ...string[]];
  if (rest.length > 0) throw valueError(node, `invalid number of arguments in "${node.name}" directive`);
  if (file.startsWith("syslog:") || file.startsWith("memory:")) {
    throw valueError(node, `"${file.split(":")[0]}:" logging is not supported by wsgate`);
  }
  if (level !== undefined && !(LOG_LEVELS as readonly string[]).includes(level)) {
    throw valueError(node, `invalid log level "${level}"`);
  }
  const path = file === "stderr" ? "stderr" : resolveFromPrefix(prefixes.prefix, file);
  return { path, level: (level as LogLevel | undefined) ?? "error" };
}
