/**
 * The gzip filter's body step (ngx_http_gzip_body_filter): the body passes
 * through a node:zlib gzip stream on its way to the client, streamed and
 * never held whole. Back-pressure both ways: write() says false when zlib's
 * input is full (the producer waits for the drain callback), and zlib's
 * output stops while the client socket asks to wait.
 *
 * The window and memory level shrink for a short body of known length, as
 * ngx_http_gzip_filter_memory() does; at the end the bytes in and out are
 * left on the request for $gzip_ratio (nginx's zin and zout: the output
 * counted with gzip's 10-byte header and 8-byte trailer).
 */

import type { Socket } from "node:net";
import { constants, createGzip, gzipSync, type Gzip, type ZlibOptions } from "node:zlib";
import type { LocConf } from "../config/model.js";
import type { GzipCounts } from "../vars/gzip-ratio.js";

/** Where the compressed bytes go: false when the socket asked to wait for 'drain'. */
export type GzipOutput = (data: Buffer) => boolean;

const GZIP_HEADER_LENGTH = 10;

export class GzipBody {
  private readonly zlib: Gzip;
  private zin = 0;
  private zout = 0;
  private done = false;
  private header: Buffer | undefined;
  /** zlib's output goes on once the socket drains, unless `held` says the output still holds it back. */
  private readonly resume = (): void => void (this.held() || this.zlib.resume());

  /**
   * `length` is the body's length when known (it sizes zlib's memory);
   * `failed` is told once when zlib fails (the response cannot go on);
   * `held` says the output holds its bytes back (limit_rate): zlib then waits for outputReady().
   */
  constructor(
    loc: LocConf,
    length: number | undefined,
    private readonly socket: Socket,
    output: GzipOutput,
    failed: (err: Error) => void,
    private readonly held: () => boolean = () => false,
  ) {
    this.zlib = createGzip(zlibOptions(loc, length));
    this.zlib.on("data", (chunk: Buffer) => {
      const first = this.zout === 0;
      this.zout += chunk.length;
      // zlib hands out gzip's 10-byte header alone; nginx sends it with the first deflated bytes.
      if (first && chunk.length === GZIP_HEADER_LENGTH) {
        this.header = chunk;
        return;
      }
      const data = this.header ? Buffer.concat([this.header, chunk]) : chunk;
      this.header = undefined;
      if (!output(data)) this.zlib.pause();
    });
    this.zlib.on("error", (err) => {
      if (this.done) return;
      this.close();
      failed(err);
    });
    socket.on("drain", this.resume);
  }

  /** Compress `data`; false when the producer should wait for onDrain(). */
  write(data: Buffer): boolean {
    this.zin += data.length;
    return this.zlib.write(data);
  }

  /** The output takes bytes again (the limit let its queue out): zlib's output goes on. */
  outputReady(): void {
    if (!this.done && !this.socket.writableNeedDrain) this.resume();
  }

  /** Called when zlib takes input again after write() said false. */
  onDrain(listener: () => void): void {
    this.zlib.on("drain", listener);
  }

  /** Send what zlib holds so far (Z_SYNC_FLUSH), as nginx does for a buffer marked flush. */
  flush(): void {
    this.zlib.flush(constants.Z_SYNC_FLUSH);
  }

  /** Finish the stream; `ended` runs once the trailer has gone to the output, with the counts. */
  end(ended: (counts: GzipCounts) => void): void {
    this.zlib.once("end", () => {
      if (this.done) return;
      this.close();
      ended({ zin: this.zin, zout: this.zout });
    });
    this.zlib.end();
  }

  /** Stop: the client or the upstream went away. */
  destroy(): void {
    if (this.done) return;
    this.close();
    this.zlib.destroy();
  }

  private close(): void {
    this.done = true;
    this.socket.off("drain", this.resume);
  }
}

/** A whole body made by wsgate (a `return` text, an error page) compressed at once, with its counts. */
export function gzipWhole(loc: LocConf, body: Buffer): { readonly data: Buffer; readonly counts: GzipCounts } {
  const data = gzipSync(body, zlibOptions(loc, body.length));
  return { data, counts: { zin: body.length, zout: data.length } };
}

/** zlib's settings for a body: gzip_comp_level, and gzip_window/gzip_hash shrunk for a short known length. */
function zlibOptions(loc: LocConf, length: number | undefined): ZlibOptions {
  let windowBits = loc.gzipWindowBits;
  let memLevel = loc.gzipMemLevel;
  // ngx_http_gzip_filter_memory(): "the actual zlib window size is smaller by 262 bytes"; zlib's gzip takes 9 bits at least.
  if (length !== undefined && length > 0) {
    while (windowBits > 9 && length < (1 << (windowBits - 1)) - 262) {
      windowBits--;
      memLevel--;
    }
  }
  return {
    level: loc.gzipCompLevel,
    windowBits,
    memLevel: Math.max(memLevel, 1),
    strategy: constants.Z_DEFAULT_STRATEGY,
  };
}
