/**
 * Bounded waits for tests: every wait names what it waits for, so a hang
 * becomes a failure that says what never happened.
 */

import type { EventEmitter } from "node:events";

/** `promise`, or a rejection after `ms` naming `what`. The timer never outlives the wait. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The arguments of the next `event` from `emitter`, within `ms`. An `error`
 * event rejects first (unless `error` is the event waited for).
 */
export function once(emitter: EventEmitter, event: string, ms: number): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const onEvent = (...args: unknown[]): void => {
      cleanup();
      resolve(args);
    };
    const onError = (error: unknown): void => {
      cleanup();
      reject(error instanceof Error ? error : new Error(String(error)));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${ms} ms waiting for "${event}"`));
    }, ms);
    const cleanup = (): void => {
      clearTimeout(timer);
      emitter.removeListener(event, onEvent);
      if (event !== "error") emitter.removeListener("error", onError);
    };
    emitter.on(event, onEvent);
    if (event !== "error") emitter.on("error", onError);
  });
}

/** Poll `check` every `intervalMs` until it returns a value other than undefined/false, within `ms`. */
export async function until<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  ms: number,
  what: string,
  intervalMs = 20,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * The arguments of the next `event` from `emitter`, within `ms`. Unlike
 * once(), an `error` event does not reject: for waits on events that follow
 * an error (a socket's `close`).
 */
export function eventWithin<T = unknown>(emitter: EventEmitter, event: string, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const listener = (...args: unknown[]): void => {
      clearTimeout(timer);
      resolve(args as T);
    };
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`no "${event}" within ${ms} ms`));
    }, ms);
    emitter.once(event, listener);
  });
}

/** A pause: only for asserting that nothing happens for a while; wait for events otherwise. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
