/**
 * The environment wsgate gives the processes it starts itself (its workers and
 * the detached copy of `daemon on`).
 *
 * Node reads every socket into a fresh 64 KB buffer from malloc, and V8 frees
 * those buffers only when a garbage collection finds them dead — tens of
 * megabytes at a time once a busy process has grown its young generation.
 * glibc gives free memory at the top of its heap back to the kernel as soon as
 * more than M_TRIM_THRESHOLD (128 KB) is free there, so the next buffers come
 * back as new pages and every byte a tunnel reads costs a page fault: measured
 * in bench/RESULTS.md, about four times the CPU per byte for large frames.
 * Keeping up to 64 MB free at the top of the heap stops that cycle; the price
 * is up to that much more resident memory after a burst (the benchmark's peak
 * RSS after its load phases: 116 → 158 MB), none while idle. glibc reads the
 * variable when a process starts, so it can only be set for processes started
 * from here; a value the user set is kept (other C libraries ignore it).
 */

export const MALLOC_TRIM_VARIABLE = "MALLOC_TRIM_THRESHOLD_";
export const MALLOC_TRIM_BYTES = String(64 * 1024 * 1024);

/** `env` with glibc's heap trim threshold raised, unless the user chose one. */
export function withMallocTrim(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return env[MALLOC_TRIM_VARIABLE] === undefined ? { ...env, [MALLOC_TRIM_VARIABLE]: MALLOC_TRIM_BYTES } : env;
}
