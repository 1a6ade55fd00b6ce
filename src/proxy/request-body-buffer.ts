/**
 * A request body read whole before the upstream is connected
 * (proxy_request_buffering on, after ngx_http_read_client_request_body):
 * kept in memory while it fits in client_body_buffer_size, else written to a
 * temporary file under client_body_temp_path. As nginx, the file is unlinked
 * as soon as it is opened, so it never outlives the request: closing its
 * descriptor frees it. With client_body_in_file_only the body always goes to
 * the file, which keeps its name (the backend may read it: $request_body_file);
 * `clean` removes it when the request is over, `on` leaves it. While a file write is pending, add() answers false and
 * the client is not read (memory stays bounded whatever the body's size); the
 * body can be sent any number of times (a retry sends it again).
 */

import { close, mkdir, open, read, unlink, writev } from "node:fs";
import { dirname, join } from "node:path";
import type { TempPath } from "../config/model.js";

/** Bytes read from the file per write to the upstream. */
const SEND_CHUNK = 64 * 1024;

/** nginx's temp file numbers: one counter, the first file is 0000000001 (ngx_next_temp_number). */
let tempNumber = 0;
/** Added on a name collision (another worker's file): nginx's ngx_random_number. */
const collisionStep = ((Date.now() % 1000) << 16) + process.pid;

/** The temp file's path for `n`: the hashed levels take the name's last digits (ngx_create_hashed_filename). */
export function tempFileName(temp: TempPath, n: number): string {
  const name = String(n % 10_000_000_000).padStart(10, "0");
  const parts = [temp.path];
  let end = name.length;
  for (const level of temp.levels) {
    parts.push(name.slice(end - level, end));
    end -= level;
  }
  return join(...parts, name);
}

/** Where the body is written: a socket, or an upstream try that watches its writes (proxy_send_timeout). */
export interface BodyWriter {
  write(chunk: Buffer): boolean;
  once(event: "drain", listener: () => void): unknown;
}

/** client_body_in_file_only's value. */
export type InFileOnly = "off" | "on" | "clean";

export interface SpoolEvents {
  /** The file was made: nginx's "[warn] a client request body is buffered to a temporary file". */
  spooled(path: string): void;
  /** A pending write finished and reading the client may go on. */
  resume(): void;
}

/** A file operation failed: nginx's words for it ("open() \"/path\" failed (…)"), logged at crit. */
export interface SpoolError {
  readonly call: string;
  readonly path: string;
  readonly err: NodeJS.ErrnoException;
}

export class RequestBodyBuffer {
  /** Bytes of body in all. */
  length = 0;
  private memory: Buffer[] = [];
  private fd: number | undefined;
  private path = "";
  private fileBytes = 0;
  /** Bytes waiting for the file (the current read's, bounded by the socket's read size). */
  private queue: Buffer[] = [];
  private busy = false;
  private blocked = false;
  private error: SpoolError | undefined;
  private finished: ((error: SpoolError | undefined) => void) | undefined;
  private disposed = false;

  constructor(
    private readonly memoryLimit: number,
    private readonly temp: TempPath,
    private readonly events: SpoolEvents,
    private readonly inFileOnly: InFileOnly = "off",
  ) {}

  /** The temporary file's name, once made. */
  get fileName(): string | undefined {
    return this.path === "" ? undefined : this.path;
  }

  /** The body's bytes while it is in memory (the array is kept by a reader after dispose()). */
  get memoryChunks(): readonly Buffer[] | undefined {
    return this.inFile || this.inFileOnly !== "off" ? undefined : this.memory;
  }

  /** Whether the body went to a file. */
  get inFile(): boolean {
    return this.fd !== undefined || this.busy;
  }

  /** Keep `chunk`; false asks the caller to stop reading until events.resume(). */
  add(chunk: Buffer): boolean {
    if (this.disposed || this.error) return true;
    this.length += chunk.length;
    if (!this.inFile && this.inFileOnly === "off" && this.length <= this.memoryLimit) {
      this.memory.push(chunk);
      return true;
    }
    // The whole body moves to the file: what was in memory first.
    this.queue.push(...this.memory, chunk);
    this.memory = [];
    this.pump();
    if (this.busy) this.blocked = true;
    return !this.busy;
  }

  /** The body is complete: `done` once every byte is where it will be read from. */
  finish(done: (error: SpoolError | undefined) => void): void {
    if (this.inFileOnly !== "off" && !this.inFile && !this.error) {
      // A body with nothing in it still gets its file (ngx_http_write_request_body: "empty body").
      this.finished = done;
      this.pump();
      return;
    }
    if (this.error || (!this.busy && this.queue.length === 0)) {
      done(this.error);
      return;
    }
    this.finished = done;
  }

  /**
   * Send the body to `socket`, memory first, then the file by pieces, waiting
   * for "drain" when the socket asks; `done` with an error when the file
   * could not be read. Stops when `current()` no longer holds.
   */
  writeTo(socket: BodyWriter, current: () => boolean, done: (error: SpoolError | undefined) => void): void {
    let ok = true;
    for (const chunk of this.memory) ok = socket.write(chunk);
    if (this.fd === undefined) {
      done(undefined);
      return;
    }
    const fd = this.fd;
    let position = 0;
    const next = (): void => {
      if (!current() || this.disposed) return;
      if (position >= this.fileBytes) {
        done(undefined);
        return;
      }
      const buffer = Buffer.allocUnsafe(Math.min(SEND_CHUNK, this.fileBytes - position));
      read(fd, buffer, 0, buffer.length, position, (err, bytes) => {
        if (!current() || this.disposed) return;
        if (err || bytes === 0) {
          done({
            call: "pread()",
            path: this.path,
            err: err ?? Object.assign(new Error("short read"), { code: "EIO" }),
          });
          return;
        }
        position += bytes;
        if (socket.write(bytes === buffer.length ? buffer : buffer.subarray(0, bytes))) next();
        else socket.once("drain", next);
      });
    };
    if (ok) next();
    else socket.once("drain", next);
  }

  /** The request is over: the file (already unlinked) is closed, the memory let go. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.memory = [];
    this.queue = [];
    this.finished = undefined;
    // A write or an open under way closes the file when it is done (pump()).
    if (!this.busy) this.closeFile();
  }

  private closeFile(): void {
    // ngx_pool_delete_file(): a `clean` file goes with the request; an `on` one stays.
    if (this.inFileOnly === "clean" && this.path !== "") unlink(this.path, () => undefined);
    if (this.fd === undefined) return;
    close(this.fd, () => undefined);
    this.fd = undefined;
  }

  private pump(): void {
    if (this.busy) return;
    if (this.disposed) return this.closeFile();
    if (this.error) return this.settle();
    if (this.fd === undefined) {
      this.busy = true;
      this.create(++tempNumber, 1, (fd) => {
        this.busy = false;
        if (fd === undefined) return this.pump();
        this.fd = fd;
        this.pump();
      });
      return;
    }
    if (this.queue.length === 0) return this.settle();
    const buffers = this.queue;
    this.queue = [];
    this.busy = true;
    writev(this.fd, buffers, (err, written) => {
      this.busy = false;
      const total = buffers.reduce((sum, b) => sum + b.length, 0);
      if (!err && written !== total) err = Object.assign(new Error("short write"), { code: "ENOSPC" });
      if (err) this.error = { call: "write()", path: this.path, err };
      else this.fileBytes += written;
      this.pump();
    });
  }

  /** Nothing left to write (or an error): let the reader go on, and tell finish() if it waits. */
  private settle(): void {
    if (this.blocked) {
      this.blocked = false;
      this.events.resume();
    }
    const finished = this.finished;
    this.finished = undefined;
    finished?.(this.error);
  }

  /** ngx_create_temp_file(): O_EXCL, another number on a collision, the folders made when missing. */
  private create(n: number, attempt: number, done: (fd: number | undefined) => void): void {
    const path = tempFileName(this.temp, n);
    open(path, "wx+", 0o600, (err, fd) => {
      if (err?.code === "EEXIST" && attempt < 10) return this.create((tempNumber += collisionStep), attempt + 1, done);
      if (err?.code === "ENOENT" && attempt === 1) {
        mkdir(dirname(path), { recursive: true, mode: 0o700 }, (mkdirErr) => {
          if (mkdirErr) {
            this.error = { call: "open()", path, err };
            done(undefined);
            return;
          }
          this.create(n, 2, done);
        });
        return;
      }
      if (err) {
        this.error = { call: "open()", path, err };
        done(undefined);
        return;
      }
      this.path = path;
      // Not persistent (ngx_open_tempfile): the name goes at once, the descriptor keeps the data.
      if (this.inFileOnly === "off") unlink(path, () => undefined);
      this.events.spooled(path);
      done(fd);
    });
  }
}
