/**
 * nginx's signal names for `-s` and the signals a running instance acts on.
 */

import { constants } from "node:os";

export const SIGNAL_FOR_COMMAND: Record<string, NodeJS.Signals> = {
  stop: "SIGTERM",
  quit: "SIGQUIT",
  reopen: "SIGUSR1",
  reload: "SIGHUP",
};

/** Linux numbers, as nginx prints "signal 3 (SIGQUIT) received". */
export const SIGNAL_NUMBER: Partial<Record<NodeJS.Signals, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGUSR1: 10,
  SIGUSR2: 12,
  SIGTERM: 15,
  SIGWINCH: 28,
};

/**
 * nginx's line for a received signal ("signal 1 (SIGHUP) received, reconfiguring").
 * nginx adds "from PID" when the kernel tells it the sender; Node does not, so
 * wsgate writes the form nginx uses when the sender is unknown.
 */
export function receivedLine(signal: NodeJS.Signals, action: string): string {
  return `signal ${SIGNAL_NUMBER[signal] ?? signalNumber(signal)} (${signal}) received${action ? `, ${action}` : ""}`;
}

export function signalNumber(signal: NodeJS.Signals): number {
  return (constants.signals as Record<string, number>)[signal] ?? 0;
}

/** The signals that end or steer a process, as wsgate listens for them. */
export type SignalActions = Partial<Record<NodeJS.Signals, () => void>>;

/** Install `actions`; returns a function that removes them. */
export function onSignals(actions: SignalActions): () => void {
  const entries = Object.entries(actions) as Array<[NodeJS.Signals, () => void]>;
  for (const [signal, action] of entries) process.on(signal, action);
  return () => {
    for (const [signal, action] of entries) process.off(signal, action);
  };
}

/** USR2/WINCH: nginx's binary upgrade, which wsgate does not do. */
export const BINARY_UPGRADE =
  "changing binary (SIGUSR2, SIGWINCH) is not supported by wsgate: to run a new version, start it and stop this one; to apply a new configuration, reload";
