/**
 * Errors as values, below every layer: a configuration error (a kind, nginx's
 * own message text, and the place — file and line — it was found; rendering
 * adds nginx's " in FILE:LINE"), a system failure at start-up or reload (a
 * file, an identity, a pid), and the texts nginx gives failed system calls.
 */

export type ConfigErrorKind =
  | "syntax" // the lexer or the block structure
  | "unknown-directive"
  | "unsupported" // known to nginx, not implemented by wsgate
  | "not-allowed" // wrong context
  | "arguments" // wrong argument count, missing "{" or ";"
  | "invalid-value"
  | "duplicate"
  | "include" // a file that cannot be read
  | "host-not-found"
  | "cycle"; // found once the file is read (ngx_init_cycle(): shared memory): -t has said "syntax is ok" by then

export interface SourcePlace {
  readonly file: string;
  readonly line: number;
}

/** The place name of `-g` directives; nginx reports them "in command line", with no line number. */
export const COMMAND_LINE = "command line";

export class ConfigError extends Error {
  constructor(
    readonly kind: ConfigErrorKind,
    readonly detail: string,
    readonly place?: SourcePlace,
  ) {
    super(withPlace(detail, place));
    this.name = "ConfigError";
  }
}

/**
 * A system call or lookup that failed while starting, reloading or signalling
 * (opening a log or pid file, finding the `user`, a worker that could not
 * start): nginx's [emerg] line, with no place in the configuration.
 */
export class SystemError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SystemError";
  }
}

/** A message as nginx's ngx_conf_log_error() ends it: " in FILE:LINE" (" in command line" for -g). */
export function withPlace(detail: string, place: SourcePlace | undefined): string {
  if (!place) return detail;
  return `${detail} in ${place.file === COMMAND_LINE ? COMMAND_LINE : `${place.file}:${place.line}`}`;
}

/** nginx prints a failed system call as `open() "PATH" failed (2: No such file or directory)`. */
export function systemErrorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const errno = typeof e.errno === "number" ? Math.abs(e.errno) : (ERRNO_NUMBER[e.code ?? ""] ?? 0);
  const reason = e.code ? (ERRNO_TEXT[e.code] ?? e.code) : String(err);
  return `${errno}: ${reason}`;
}

/** strerror(3) texts for the errors a proxy meets, as nginx prints them. */
const ERRNO_TEXT: Record<string, string> = {
  ENOENT: "No such file or directory",
  EACCES: "Permission denied",
  EISDIR: "Is a directory",
  ENOTDIR: "Not a directory",
  ENAMETOOLONG: "File name too long",
  ELOOP: "Too many levels of symbolic links",
  EADDRINUSE: "Address already in use",
  EADDRNOTAVAIL: "Cannot assign requested address",
  ECONNREFUSED: "Connection refused",
  ECONNRESET: "Connection reset by peer",
  ETIMEDOUT: "Connection timed out",
  EHOSTUNREACH: "No route to host",
  ENETUNREACH: "Network is unreachable",
  EMFILE: "Too many open files",
  ENFILE: "Too many open files in system",
  EPIPE: "Broken pipe",
  EPERM: "Operation not permitted",
  ESRCH: "No such process",
  EINVAL: "Invalid argument",
  ENOMEM: "Cannot allocate memory",
  ENOBUFS: "No buffer space available",
  EAFNOSUPPORT: "Address family not supported by protocol",
};

/** Linux errno numbers, for errors whose errno Node did not fill in. */
export const ERRNO_NUMBER: Record<string, number> = {
  ENOENT: 2,
  EACCES: 13,
  ECONNREFUSED: 111,
  ECONNRESET: 104,
  ETIMEDOUT: 110,
  EHOSTUNREACH: 113,
  ENETUNREACH: 101,
  EMFILE: 24,
  ENFILE: 23,
  EPIPE: 32,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
};

/** A listening socket could not be opened: nginx's `bind() to … failed (…)` message. */
export class ListenError extends Error {}
