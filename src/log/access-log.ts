/**
 * Writing access-log lines: one line per request, when it ends (for an
 * upgraded connection, when the tunnel closes), to every access_log of the
 * location. Without `buffer=` a line is one write(2), as in nginx; with it,
 * lines collect until the buffer is full, `flush=` passes, or the process
 * reopens or stops.
 */

import type { ComplexValue } from "../vars/complex-value.js";
import type { VariableSource } from "../vars/source.js";
import type { LogFormat } from "./format.js";
import { writeAll, type LogFiles } from "./files.js";

export interface AccessLogTarget {
  /** Absolute path, or "stderr". */
  readonly path: string;
  readonly format: LogFormat;
  readonly bufferBytes: number;
  readonly flushMs: number;
  readonly condition: ComplexValue | undefined;
}

interface Pending {
  text: string;
  timer: NodeJS.Timeout | undefined;
}

export class AccessLog {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly files: LogFiles) {}

  /** Open every file a configuration names, so a bad path fails at start, as in nginx. */
  openAll(targets: Iterable<AccessLogTarget>): void {
    for (const target of targets) this.files.open(target.path);
  }

  write(targets: readonly AccessLogTarget[] | "off", r: VariableSource): void {
    if (targets === "off") return;
    for (const target of targets) {
      if (target.condition) {
        const condition = target.condition.evaluate(r);
        if (condition === "" || condition === "0") continue;
      }
      const line = target.format.render(r) + "\n";
      if (target.bufferBytes > 0) this.buffer(target, line);
      else this.writeNow(target.path, line);
    }
  }

  /** Write out every buffered line (before reopen, reload and exit). */
  flush(): void {
    for (const [path, pending] of this.pending) {
      if (pending.timer) clearTimeout(pending.timer);
      this.writeNow(path, pending.text);
    }
    this.pending.clear();
  }

  private buffer(target: AccessLogTarget, line: string): void {
    let pending = this.pending.get(target.path);
    if (!pending) {
      pending = { text: "", timer: undefined };
      this.pending.set(target.path, pending);
    }
    if (pending.text.length + line.length > target.bufferBytes) this.flushOne(target.path);
    pending = this.pending.get(target.path) ?? { text: "", timer: undefined };
    this.pending.set(target.path, pending);
    pending.text += line;
    if (target.flushMs > 0 && !pending.timer) {
      pending.timer = setTimeout(() => this.flushOne(target.path), target.flushMs);
      pending.timer.unref();
    }
  }

  private flushOne(path: string): void {
    const pending = this.pending.get(path);
    if (!pending) return;
    if (pending.timer) clearTimeout(pending.timer);
    this.pending.delete(path);
    if (pending.text) this.writeNow(path, pending.text);
  }

  private writeNow(path: string, text: string): void {
    const fd = this.files.fdFor(path) ?? this.files.open(path);
    try {
      writeAll(fd, text);
    } catch {
      // nginx drops a line it cannot write (disk full) and goes on serving.
    }
  }
}
