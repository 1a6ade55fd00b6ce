/**
 * nginx's command line (ngx_get_options): single-letter flags that may be
 * grouped (`-tq`), values attached or in the next word (`-cfile`, `-c file`),
 * and nginx's messages for what it refuses.
 */

export interface CliOptions {
  help: boolean;
  version: boolean;
  versionAndConfigure: boolean;
  test: boolean;
  dump: boolean;
  quiet: boolean;
  signal: string | undefined;
  prefix: string | undefined;
  errorLog: string | undefined;
  confFile: string | undefined;
  globals: string | undefined;
}

export class CliError extends Error {}

const VALUE_FLAGS: Record<string, { key: "prefix" | "errorLog" | "confFile" | "globals" | "signal"; missing: string }> =
  {
    p: { key: "prefix", missing: `option "-p" requires directory name` },
    e: { key: "errorLog", missing: `option "-e" requires file name` },
    c: { key: "confFile", missing: `option "-c" requires file name` },
    g: { key: "globals", missing: `option "-g" requires parameter` },
    s: { key: "signal", missing: `option "-s" requires parameter` },
  };

const SIGNALS = new Set(["stop", "quit", "reopen", "reload"]);

export function parseCli(argv: readonly string[]): CliOptions {
  const options: CliOptions = {
    help: false,
    version: false,
    versionAndConfigure: false,
    test: false,
    dump: false,
    quiet: false,
    signal: undefined,
    prefix: undefined,
    errorLog: undefined,
    confFile: undefined,
    globals: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("-")) throw new CliError(`invalid option: "${arg}"`);
    for (let j = 1; j < arg.length; j++) {
      const flag = arg[j]!;
      const valueFlag = VALUE_FLAGS[flag];
      if (valueFlag) {
        const attached = arg.slice(j + 1);
        const value = attached !== "" ? attached : argv[++i];
        if (value === undefined) throw new CliError(valueFlag.missing);
        if (valueFlag.key === "signal" && !SIGNALS.has(value)) throw new CliError(`invalid option: "-s ${value}"`);
        options[valueFlag.key] = value;
        break;
      }
      switch (flag) {
        case "?":
        case "h":
          options.help = true;
          break;
        case "v":
          options.version = true;
          break;
        case "V":
          options.version = true;
          options.versionAndConfigure = true;
          break;
        case "t":
          options.test = true;
          break;
        case "T":
          options.test = true;
          options.dump = true;
          break;
        case "q":
          options.quiet = true;
          break;
        default:
          throw new CliError(`invalid option: "${flag}"`);
      }
    }
  }
  return options;
}
