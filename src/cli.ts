/**
 * The `wsgate` command: nginx's flags, messages and exit codes.
 *   wsgate [-?hvVtTq] [-s signal] [-p prefix] [-e filename] [-c filename] [-g directives]
 */

import { appendFileSync, writeSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError, ListenError, SystemError, systemErrorText } from "./core/errors.js";
import { loadConfig, type LoadOptions } from "./config/load.js";
import type { Config } from "./config/model.js";
import { resolveFromPrefix } from "./config/paths.js";
import { configureArguments } from "./config/configure-arguments.js";
import { CliError, parseCli, type CliOptions } from "./cli-options.js";
import { formatLine } from "./log/error-log.js";
import { readPidFile } from "./process/pidfile.js";
import { isWorkerProcess } from "./process/ipc.js";
import { configWarnings } from "./process/startup-notices.js";
import { SIGNAL_FOR_COMMAND, SIGNAL_NUMBER } from "./process/signals.js";
import { daemonize, isDaemonChild, reportToParent } from "./process/daemon.js";
import { NGINX_VERSION, WSGATE_VERSION } from "./version.js";

const PROGRAM = "wsgate";

/** The compiled-in prefix: the directory wsgate is installed in (conf/, logs/ below it). */
export const DEFAULT_PREFIX = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const DEFAULT_CONF = "conf/nginx.conf";

function stderr(line: string): void {
  writeSync(2, line + "\n");
}

function usage(prefix: string): string {
  return [
    `${PROGRAM} version: ${PROGRAM}/${WSGATE_VERSION} (nginx/${NGINX_VERSION} behaviour)`,
    `Usage: ${PROGRAM} [-?hvVtTq] [-s signal] [-p prefix]`,
    `             [-e filename] [-c filename] [-g directives]`,
    ``,
    `Options:`,
    `  -?,-h         : this help`,
    `  -v            : show version and exit`,
    `  -V            : show version and configure options then exit`,
    `  -t            : test configuration and exit`,
    `  -T            : test configuration, dump it and exit`,
    `  -q            : suppress non-error messages during configuration testing`,
    `  -s signal     : send signal to a master process: stop, quit, reopen, reload`,
    `  -p prefix     : set prefix path (default: ${prefix}/)`,
    `  -e filename   : set error log file (default: logs/error.log)`,
    `  -c filename   : set configuration file (default: ${DEFAULT_CONF})`,
    `  -g directives : set global directives out of configuration file`,
    ``,
  ].join("\n");
}

export async function main(argv: readonly string[]): Promise<number> {
  // Each role loads only its own code: a master does not carry a worker's HTTP stack (memory at rest).
  if (isWorkerProcess()) return (await import("./process/worker.js")).runWorker();
  let options: CliOptions;
  try {
    options = parseCli(argv);
  } catch (err) {
    if (err instanceof CliError) {
      stderr(`${PROGRAM}: ${err.message}`);
      return 1;
    }
    throw err;
  }
  const prefix = resolve(options.prefix ?? DEFAULT_PREFIX);
  if (options.version) {
    stderr(`nginx version: nginx/${NGINX_VERSION}`);
    if (options.versionAndConfigure) {
      stderr(`${PROGRAM} version: ${PROGRAM}/${WSGATE_VERSION} (Node.js ${process.version})`);
      // nginx's lines for its TLS library, as Node's OpenSSL is wsgate's.
      stderr(`built with OpenSSL ${process.versions.openssl}`);
      stderr("TLS SNI support enabled");
      stderr(`configure arguments: ${configureArguments(prefix)}`);
    }
  }
  if (options.help) stderr(usage(prefix));
  if (options.version || options.help) return 0;

  const confFile = options.confFile ?? DEFAULT_CONF;
  const startupLog =
    options.errorLog === undefined
      ? undefined
      : options.errorLog === "stderr"
        ? "stderr"
        : resolveFromPrefix(prefix, options.errorLog);
  let config: Config;
  const loadOptions: LoadOptions = {
    prefix,
    confFile,
    ...(options.globals !== undefined ? { globals: options.globals } : {}),
    ...(startupLog !== undefined ? { defaultErrorLog: startupLog } : {}),
  };
  try {
    config = await loadConfig(loadOptions);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    if (err.kind === "cycle" && options.test && !options.quiet) {
      stderr(`${PROGRAM}: the configuration file ${resolveFromPrefix(prefix, confFile)} syntax is ok`);
    }
    emerg(err.message, startupLog);
    if (options.test) stderr(`${PROGRAM}: configuration file ${resolveFromPrefix(prefix, confFile)} test failed`);
    return 1;
  }
  // nginx warns while reading the configuration, for -t as for a start.
  if (!isDaemonChild()) for (const warning of configWarnings(config)) stderr(`${PROGRAM}: [warn] ${warning}`);
  if (options.test) {
    if (!options.quiet) {
      stderr(`${PROGRAM}: the configuration file ${config.file} syntax is ok`);
      stderr(`${PROGRAM}: configuration file ${config.file} test is successful`);
    }
    if (options.dump) {
      for (const file of config.files)
        process.stdout.write(`# configuration file ${file.path}:\n${file.text}\n`, "latin1");
    }
    return 0;
  }
  if (options.signal) return sendSignal(config, options.signal);
  return serve(config, loadOptions);
}

/**
 * `-s`: signal the running instance named by the pid file. As nginx, the
 * signalling process reports on stderr in the error log's format.
 */
function sendSignal(config: Config, command: string): number {
  const report = (level: "notice" | "error" | "alert", message: string): void => {
    writeSync(2, formatLine(level, message));
  };
  report("notice", "signal process started");
  let pid: number;
  try {
    pid = readPidFile(config.main.pid);
  } catch (err) {
    if (!(err instanceof SystemError)) throw err;
    report("error", err.message);
    return 1;
  }
  const signal = SIGNAL_FOR_COMMAND[command]!;
  try {
    process.kill(pid, signal);
    return 0;
  } catch (err) {
    report("alert", `kill(${pid}, ${SIGNAL_NUMBER[signal] ?? 0}) failed (${systemErrorText(err)})`);
    return 1;
  }
}

async function serve(config: Config, loadOptions: LoadOptions): Promise<number> {
  if (config.main.daemon && !isDaemonChild()) return daemonize();
  try {
    const running = config.main.masterProcess
      ? await (await import("./process/master.js")).startMaster(config, loadOptions)
      : await (await import("./process/runtime.js")).startRuntime(config);
    reportToParent({ ok: true });
    return await running.exited;
  } catch (err) {
    if (!(err instanceof ConfigError) && !(err instanceof SystemError) && !(err instanceof ListenError)) throw err;
    emerg(err.message, undefined);
    reportToParent({ ok: false, message: err.message });
    return 1;
  }
}

/** nginx prints emergencies on stderr as "nginx: [emerg] …", and into the error log. */
function emerg(message: string, logPath: string | undefined): void {
  stderr(`${PROGRAM}: [emerg] ${message}`);
  if (logPath && logPath !== "stderr") {
    try {
      appendFileSync(logPath, formatLine("emerg", message));
    } catch {
      // the log itself may be what failed to open
    }
  }
}
