/**
 * nginx's signal names for `-s` and the signals a running instance acts on.
 */

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
