/**
 * Directives that only tune nginx's own implementation — its file I/O, its
 * accept loop, its worker processes, its caches of open descriptors — and
 * that no client can observe. wsgate accepts them with nginx's rows
 * (contexts, argument counts, "is duplicate", value checks and messages)
 * and gives them no effect; each row says why. The `listen` parameters of
 * the same kind are checked here too (listen.ts asks).
 */

import { availableParallelism } from "node:os";
import { ConfigError, type SourcePlace } from "../../core/errors.js";
import type { BuildScope, MainBuild } from "../build-scope.js";
import type { ConfModule } from "../module.js";
import type { DirectiveNode } from "../parser.js";
import { HTTP_CONTEXTS, placeOf, type Arity, type Context, type DirectiveSpec } from "../table.js";
import { ComplexValue } from "../../vars/complex-value.js";
import { directiveError, parseFlag, parseNumber, parseOffset, parseSize, parseTimeMs, valueError } from "../values.js";
import { parseSizeValue } from "../../core/sizes.js";

/** The names each level already set (nginx's "is duplicate" checks a field left unset by create_conf). */
const seen = new WeakMap<object, Set<string>>();

/** Thread pools per configuration: where each was first named, and whether `thread_pool` defined it. */
interface ThreadPool {
  defined: boolean;
  readonly place: SourcePlace;
}
const threadPools = new WeakMap<MainBuild, Map<string, ThreadPool>>();
/** worker_cpu_affinity's mask count, for ngx_core_module_init_conf()'s warning (0 for "auto"). */
const cpuMasks = new WeakMap<MainBuild, number>();

/** The level a row writes to: the main conf for main and events, else the http level's own record. */
function levelOf(scope: BuildScope): object {
  return scope.context === "main" || scope.context === "events" ? scope.main : scope.loc!;
}

/** ngx_conf_set_*_slot()'s first check: a level sets a field once. */
function once(scope: BuildScope, node: DirectiveNode): void {
  const level = levelOf(scope);
  let names = seen.get(level);
  if (!names) seen.set(level, (names = new Set()));
  if (names.has(node.name)) throw directiveError(node, "is duplicate");
  names.add(node.name);
}

/** A row whose value nginx checks with `check` after the duplicate check, then ignores here. */
function row(
  name: string,
  contexts: readonly Context[],
  args: Arity,
  check: (node: DirectiveNode, scope: BuildScope) => void,
): DirectiveSpec {
  return {
    name,
    contexts,
    args,
    handle: (scope, node) => {
      once(scope, node);
      check(node, scope);
    },
  };
}

const MAIN: readonly Context[] = ["main"];
const EVENTS: readonly Context[] = ["events"];

const flag = (node: DirectiveNode): void => void parseFlag(node, node.args[0]!);
const size = (node: DirectiveNode): void => void parseSize(node, node.args[0]!);
const msec = (node: DirectiveNode): void => void parseTimeMs(node, node.args[0]!);
const sec = (node: DirectiveNode): void => {
  if (parseSeconds(node.args[0]!) === undefined) throw directiveError(node, "invalid value");
};
const num = (node: DirectiveNode): void => void parseNumber(node, node.args[0]!);

/** ngx_event_use(): the name of an event module built in; a Linux build has epoll only. */
function eventMethod(node: DirectiveNode): void {
  const name = node.args[0]!;
  if (name !== "epoll") throw new ConfigError("invalid-value", `invalid event type "${name}"`, placeOf(node));
}

/** ngx_parse_time(value, 1): seconds, so "ms" is refused. */
function parseSeconds(value: string): number | undefined {
  if (value.includes("ms") || !/^(\d+\s*[yMwdhms]?\s*)+$/.test(value)) return undefined;
  let total = 0;
  for (const [, amount, unit] of value.matchAll(/(\d+)\s*([yMwdhms]?)/g)) {
    total += Number(amount) * (SECONDS[unit!] ?? 1);
  }
  return total;
}
const SECONDS: Record<string, number> = { y: 31536000, M: 2592000, w: 604800, d: 86400, h: 3600, m: 60, s: 1 };

/** ngx_atoi(): digits only. */
function atoi(text: string): number | undefined {
  return /^\d+$/.test(text) ? Number(text) : undefined;
}

const TUNING_DIRECTIVES: readonly DirectiveSpec[] = [
  // JavaScript's engine compiles regexes itself; there is no PCRE to JIT.
  row("pcre_jit", MAIN, "flag", flag),
  // Node's libuv decides how files are read and sent.
  row("aio", HTTP_CONTEXTS, [1], checkAio),
  row("aio_write", HTTP_CONTEXTS, "flag", flag),
  row("sendfile_max_chunk", HTTP_CONTEXTS, [1], size),
  row("directio", HTTP_CONTEXTS, [1], (node) => {
    if (node.args[0] !== "off") parseOffset(node, node.args[0]!);
  }),
  row("directio_alignment", HTTP_CONTEXTS, [1], size),
  row("read_ahead", HTTP_CONTEXTS, [1], size),
  // wsgate streams what it sends as it comes; nginx's output chain buffers do not exist.
  row("output_buffers", HTTP_CONTEXTS, [2], (node) => {
    const count = atoi(node.args[0]!);
    const size = parseSizeValue(node.args[1]!);
    if (!count || !size) throw directiveError(node, "invalid value");
  }),
  row("postpone_output", HTTP_CONTEXTS, [1], size),
  // A cache of open file descriptors only spares system calls.
  row("open_file_cache", HTTP_CONTEXTS, [1, 2], checkOpenFileCache),
  row("open_file_cache_valid", HTTP_CONTEXTS, [1], sec),
  row("open_file_cache_min_uses", HTTP_CONTEXTS, [1], num),
  row("open_file_cache_errors", HTTP_CONTEXTS, "flag", flag),
  row("open_log_file_cache", HTTP_CONTEXTS, [1, 2, 3, 4], checkOpenLogFileCache),
  // wsgate closes a connection after draining what it must; nginx's lingering knobs tune its own close.
  row("lingering_close", HTTP_CONTEXTS, [1], (node) => {
    if (!["off", "on", "always"].includes(node.args[0]!)) throw valueError(node, `invalid value "${node.args[0]!}"`);
  }),
  row("lingering_time", HTTP_CONTEXTS, [1], msec),
  row("lingering_timeout", HTTP_CONTEXTS, [1], msec),
  // Node's event loop accepts connections; there is no accept mutex or accept batching to tune.
  row("multi_accept", EVENTS, "flag", flag),
  row("accept_mutex", EVENTS, "flag", flag),
  row("accept_mutex_delay", EVENTS, [1], msec),
  // The connection method is libuv's (epoll on Linux); nginx on Linux is built with epoll alone.
  row("use", EVENTS, [1], eventMethod),
  // Node's libuv keeps its own thread pool (UV_THREADPOOL_SIZE).
  {
    name: "thread_pool",
    contexts: MAIN,
    args: [2, 3],
    handle: (scope, node) => defineThreadPool(scope, node),
  },
  // Scheduling of worker processes is left to the operating system.
  {
    name: "worker_cpu_affinity",
    contexts: MAIN,
    args: "1more",
    handle: (scope, node) => checkCpuAffinity(scope, node),
  },
  {
    // ngx_set_priority(): a priority of 0 is nginx's "unset", so it may be given again.
    name: "worker_priority",
    contexts: MAIN,
    args: [1],
    handle: (scope, node) => {
      if (seen.get(scope.main)?.has(node.name)) throw directiveError(node, "is duplicate");
      const priority = atoi(node.args[0]!.replace(/^[-+]/, ""));
      if (priority === undefined) throw directiveError(node, "invalid number");
      if (priority !== 0) once(scope, node);
    },
  },
  // Node reads the clock itself; nginx caches it per event-loop turn or per timer_resolution.
  row("timer_resolution", MAIN, [1], msec),
];

/** ngx_http_core_set_aio(): off, on (file AIO, which nginx.org's Linux builds have), threads[=pool]. */
function checkAio(node: DirectiveNode, scope: BuildScope): void {
  const value = node.args[0]!;
  if (value === "off" || value === "on") return;
  if (value === "threads" || value.startsWith("threads=")) {
    const name = value === "threads" ? "default" : value.slice(8);
    // A pool named by variables is looked up per request (its variables must exist); a literal name at start.
    if (name.includes("$")) ComplexValue.compile(name, scope.http!.registry, placeOf(node));
    else addThreadPool(scope.main, name, placeOf(node));
    return;
  }
  throw directiveError(node, "invalid value");
}

/** ngx_thread_pool_add(): a pool is known from its first mention, with that place. */
function addThreadPool(main: MainBuild, name: string, place: SourcePlace): ThreadPool {
  let pools = threadPools.get(main);
  if (!pools) threadPools.set(main, (pools = new Map()));
  let pool = pools.get(name);
  if (!pool) pools.set(name, (pool = { defined: false, place }));
  return pool;
}

/** ngx_thread_pool(): `thread_pool name threads=N [max_queue=N]`; other parameters are ignored, as in nginx. */
function defineThreadPool(scope: BuildScope, node: DirectiveNode): void {
  const [name, ...parameters] = node.args as [string, ...string[]];
  const pool = addThreadPool(scope.main, name, placeOf(node));
  if (pool.defined) throw valueError(node, `duplicate thread pool "${name}"`);
  let threads = 0;
  for (const parameter of parameters) {
    if (parameter.startsWith("threads=")) {
      threads = atoi(parameter.slice(8)) ?? 0;
      if (threads === 0) throw valueError(node, `invalid threads value "${parameter}"`);
    } else if (parameter.startsWith("max_queue=") && atoi(parameter.slice(10)) === undefined) {
      throw valueError(node, `invalid max_queue value "${parameter}"`);
    }
  }
  if (threads === 0) throw valueError(node, `"${node.name}" must have "threads" parameter`);
  pool.defined = true;
}

/** ngx_set_cpu_affinity(): "auto" and at most one mask, or masks of 0 and 1 (spaces skipped). */
function checkCpuAffinity(scope: BuildScope, node: DirectiveNode): void {
  if (cpuMasks.has(scope.main)) throw directiveError(node, "is duplicate");
  const auto = node.args[0] === "auto";
  if (auto && node.args.length > 2) {
    throw valueError(node, `invalid number of arguments in "worker_cpu_affinity" directive`);
  }
  for (const mask of node.args.slice(auto ? 1 : 0)) {
    if (mask.length > 1024) throw valueError(node, `"worker_cpu_affinity" supports up to 1024 CPUs only`);
    const bad = [...mask].reverse().find((ch) => ch !== " " && ch !== "0" && ch !== "1");
    if (bad !== undefined) throw valueError(node, `invalid character "${bad}" in "worker_cpu_affinity"`);
  }
  cpuMasks.set(scope.main, auto ? 0 : node.args.length);
}

/** ngx_http_core_open_file_cache(): max=N (N > 0), inactive=time, off; a cache needs "max". */
function checkOpenFileCache(node: DirectiveNode): void {
  let max = 0;
  let off = false;
  for (const parameter of node.args) {
    if (parameter.startsWith("max=") && (atoi(parameter.slice(4)) ?? 0) > 0) max = Number(parameter.slice(4));
    else if (parameter.startsWith("inactive=") && parseSeconds(parameter.slice(9)) !== undefined) continue;
    else if (parameter === "off") off = true;
    else throw valueError(node, `invalid "open_file_cache" parameter "${parameter}"`);
  }
  if (!off && max === 0) throw valueError(node, `"open_file_cache" must have the "max" parameter`);
}

/** ngx_http_log_open_file_cache(): max=N, inactive=time, min_uses=N, valid=time, off; a cache needs max > 0. */
function checkOpenLogFileCache(node: DirectiveNode): void {
  let max = 0;
  let off = false;
  for (const parameter of node.args) {
    const [key, value = ""] = parameter.split(/=(.*)/s) as [string, string | undefined];
    const ok =
      parameter === "off"
        ? (off = true)
        : key === "max" || key === "min_uses"
          ? atoi(value) !== undefined
          : (key === "inactive" || key === "valid") && parseSeconds(value) !== undefined;
    if (!ok) throw valueError(node, `invalid "open_log_file_cache" parameter "${parameter}"`);
    if (key === "max") max = Number(value);
  }
  if (!off && max === 0) throw valueError(node, `"open_log_file_cache" must have "max" parameter`);
}

/**
 * The checks nginx makes once the whole file is read (ngx_core_module_init_conf(),
 * ngx_thread_pool_init_conf()): the worker_cpu_affinity warning, and every
 * literal pool `aio threads=` names must be defined ("default" always is).
 */
export function finishTuning(main: MainBuild): void {
  const masks = cpuMasks.get(main) ?? 0;
  const workers = main.workerProcesses === "auto" ? availableParallelism() : (main.workerProcesses ?? 1);
  if (masks > 1 && masks !== workers) {
    (main.warnings ??= []).push(
      `the number of "worker_processes" is not equal to the number of "worker_cpu_affinity" masks, ` +
        `using last mask for remaining worker processes`,
    );
  }
  for (const [name, pool] of threadPools.get(main) ?? []) {
    if (!pool.defined && name !== "default") {
      throw new ConfigError("invalid-value", `unknown thread pool "${name}"`, pool.place);
    }
  }
}

/**
 * The `listen` parameters that tune sockets nginx's way (ngx_http_core_listen()),
 * checked as Linux's nginx checks them: deferred, bind, reuseport, fastopen=N,
 * rcvbuf=size, sndbuf=size, so_keepalive=on|off|[idle]:[intvl]:[cnt]; setfib
 * is FreeBSD's (an invalid parameter on Linux), accept_filter too (refused
 * with nginx's words). Returns false for a parameter not of this kind.
 */
export function checkTuningListenParameter(node: DirectiveNode, parameter: string): boolean {
  const eq = parameter.indexOf("=");
  const key = eq === -1 ? parameter : parameter.slice(0, eq);
  const value = eq === -1 ? undefined : parameter.slice(eq + 1);
  if (value === undefined) return ["deferred", "bind", "reuseport"].includes(key);
  if (key === "fastopen") {
    if (atoi(value) === undefined) throw valueError(node, `invalid fastopen "${parameter}"`);
  } else if (key === "rcvbuf" || key === "sndbuf") {
    if (parseSizeValue(value) === undefined) throw valueError(node, `invalid ${key} "${parameter}"`);
  } else if (key === "so_keepalive") {
    if (value !== "on" && value !== "off" && !keepaliveTunable(value))
      throw valueError(node, `invalid so_keepalive value: "${value}"`);
  } else if (key === "accept_filter") {
    throw valueError(node, `accept filters "${parameter}" are not supported on this platform, ignored`);
  } else return false;
  return true;
}

/** "[keepidle]:[keepintvl]:[keepcnt]", idle and interval in seconds, at least one of them non-zero. */
function keepaliveTunable(value: string): boolean {
  const [idle = "", interval = "", count = "", ...rest] = value.split(":");
  if (rest.length > 0) return false;
  const parts = [
    idle === "" ? 0 : parseSeconds(idle),
    interval === "" ? 0 : parseSeconds(interval),
    count === "" ? 0 : atoi(count),
  ];
  return parts.every((part) => part !== undefined) && parts.some((part) => part !== 0);
}

export const TUNING_MODULE: ConfModule = {
  name: "wsgate_tuning",
  directives: TUNING_DIRECTIVES,
};
