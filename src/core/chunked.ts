/**
 * A chunked transfer-coding decoder as a plain state machine over Buffers
 * (after ngx_http_parse_chunked): it hands out slices of the data, never
 * copies them, and refuses the well-known tricks — sizes with a sign, "0x",
 * more than 16 hex digits, or anything but a line end after the data.
 * A line end is CRLF or a bare LF, as ngx_http_parse_chunked() reads it; a CR
 * not followed by LF is invalid everywhere (so "\r\r\n" is too).
 */

const enum State {
  Size,
  SizeExtension,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  Trailer,
  TrailerLine,
  TrailerLf,
  LastLf,
  Done,
}

export type ChunkResult = "more" | "done" | "invalid";

export class ChunkedDecoder {
  private state = State.Size;
  private remaining = 0;
  private digits = 0;

  /** Bytes after the terminating chunk, once done (the next request's or response's). */
  rest: Buffer | undefined;

  private isDone(): boolean {
    return this.state === State.Done;
  }

  /**
   * Feed bytes; `onData` receives each piece of chunk data. Answers "more" when
   * the body is not finished, "done" when it is (see `rest`), "invalid" on a
   * framing error.
   */
  feed(buf: Buffer, onData: (data: Buffer) => void): ChunkResult {
    let i = 0;
    while (i < buf.length) {
      switch (this.state) {
        case State.Data: {
          const take = Math.min(this.remaining, buf.length - i);
          onData(buf.subarray(i, i + take));
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) this.state = State.DataCr;
          continue;
        }
        case State.Done:
          this.rest = buf.subarray(i);
          return "done";
        default:
          if (!this.step(buf[i]!)) return "invalid";
          i++;
          if (this.isDone()) {
            this.rest = buf.subarray(i);
            return "done";
          }
      }
    }
    return this.isDone() ? "done" : "more";
  }

  /** The chunk-size line ended (CRLF or a bare LF): the data, or the trailer after the last chunk. */
  private endSizeLine(): void {
    this.digits = 0;
    this.state = this.remaining === 0 ? State.Trailer : State.Data;
  }

  /** One byte of framing; false when it breaks the grammar. */
  private step(ch: number): boolean {
    switch (this.state) {
      case State.Size: {
        const value = hexValue(ch);
        if (value >= 0) {
          if (++this.digits > 16) return false;
          this.remaining = this.remaining * 16 + value;
          return Number.isSafeInteger(this.remaining);
        }
        if (this.digits === 0) return false;
        if (ch === 13) this.state = State.SizeLf;
        else if (ch === 10) this.endSizeLine();
        else if (ch === 59 || ch === 32 || ch === 9)
          this.state = State.SizeExtension; // ";" or white space
        else return false;
        return true;
      }
      case State.SizeExtension:
        if (ch === 13) this.state = State.SizeLf;
        else if (ch === 10) this.endSizeLine();
        return true;
      case State.SizeLf:
        if (ch !== 10) return false;
        this.endSizeLine();
        return true;
      case State.DataCr:
        if (ch === 13) this.state = State.DataLf;
        else if (ch === 10) this.state = State.Size;
        else return false;
        return true;
      case State.DataLf:
        if (ch !== 10) return false;
        this.state = State.Size;
        return true;
      case State.Trailer:
        if (ch === 13) this.state = State.LastLf;
        else if (ch === 10) this.state = State.Done;
        else this.state = State.TrailerLine;
        return true;
      case State.TrailerLine:
        if (ch === 13) this.state = State.TrailerLf;
        else if (ch === 10) this.state = State.Trailer;
        return true;
      case State.TrailerLf:
        if (ch !== 10) return false;
        this.state = State.Trailer;
        return true;
      case State.LastLf:
        if (ch !== 10) return false;
        this.state = State.Done;
        return true;
      default:
        return false;
    }
  }
}

function hexValue(ch: number): number {
  if (ch >= 48 && ch <= 57) return ch - 48;
  if (ch >= 97 && ch <= 102) return ch - 87;
  if (ch >= 65 && ch <= 70) return ch - 55;
  return -1;
}

/** One chunk of the chunked coding around `data`. */
export function encodeChunk(data: Buffer): Buffer[] {
  return [Buffer.from(`${data.length.toString(16)}\r\n`, "latin1"), data, CRLF];
}

const CRLF = Buffer.from("\r\n", "latin1");
export const LAST_CHUNK = Buffer.from("0\r\n\r\n", "latin1");
