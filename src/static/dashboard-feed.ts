/**
 * The dashboard's live feed: server-sent events (text/event-stream), one
 * JSON snapshot of the server's figures (dashboard-figures.ts) a second to
 * every open feed. One timer and one gathering of the figures serve every
 * feed of the process; the timer runs only while a feed is open.
 *
 * A feed ends:
 * - when its client leaves (the connection's abort): logged, as any request;
 * - at a graceful shutdown (endFeeds(), from the serving process): the last
 *   chunk is sent and the connection closes, so that QUIT does not wait on a
 *   response that never ends; the page's EventSource reconnects to the next
 *   generation by itself;
 * - when its reader is slow: a snapshot is not written while more than
 *   BACKLOG_LIMIT bytes wait in the socket (the next one replaces it), and a
 *   reader that takes nothing for send_timeout is closed, as nginx closes a
 *   client that does not read within send_timeout. The buffer stays bounded.
 */

import type { ContentFlow } from "../http/content-handler.js";
import type { HttpRequest } from "../http/request.js";
import { ownResponseHead } from "../http/own-response.js";
import { serverFigures } from "../http/server-figures.js";
import { dashboardSnapshot } from "./dashboard-figures.js";
import { connectionOf } from "./services.js";

/** The feed's period. */
export const FEED_INTERVAL_MS = 1000;

/** Bytes that may wait in a feed's socket before snapshots are skipped (a few snapshots' worth). */
export const BACKLOG_LIMIT = 64 * 1024;

/** How long the page's EventSource waits before it reconnects (the stream's `retry:` field). */
const RETRY_MS = 2000;

/**
 * What to do with the next event given what waits in the socket: write it; skip it (the reader
 * is behind: the next snapshot replaces it); or, stalled since `stalledSince` for send_timeout,
 * give the reader up.
 */
export function backlogVerdict(
  waiting: number,
  stalledSince: number,
  now: number,
  sendTimeoutMs: number,
): "write" | "skip" | "timeout" {
  if (waiting <= BACKLOG_LIMIT) return "write";
  return stalledSince !== 0 && now - stalledSince >= sendTimeoutMs ? "timeout" : "skip";
}

class Feed {
  /** Since when snapshots have been skipped for a full socket (0: not stalled). */
  private stalledSince = 0;
  private open = true;

  constructor(
    private readonly r: HttpRequest,
    readonly flow: ContentFlow,
    private readonly chunked: boolean,
  ) {}

  /** One event; skipped while the socket holds more than BACKLOG_LIMIT, the reader cut off after send_timeout. */
  send(event: string): void {
    if (!this.open) return;
    const now = Date.now();
    const verdict = backlogVerdict(
      connectionOf(this.r).socket.writableLength,
      this.stalledSince,
      now,
      this.r.loc.sendTimeoutMs,
    );
    if (verdict === "timeout") this.timedOut();
    else if (verdict === "skip") this.stalledSince ||= now;
    else {
      this.stalledSince = 0;
      this.write(event);
    }
  }

  /** The end of the response: the last chunk, the connection closed once it is sent. */
  end(): void {
    if (!this.close()) return;
    if (this.chunked) connectionOf(this.r).write("0\r\n\r\n");
    this.flow.finalize(this.r, false);
  }

  /** The client went away: nothing more to send. */
  aborted(): void {
    if (this.close()) this.flow.finalize(this.r, false);
  }

  private write(text: string): void {
    const body = Buffer.from(text, "utf8");
    const connection = connectionOf(this.r);
    if (this.chunked) connection.write(`${body.length.toString(16)}\r\n`);
    connection.write(body);
    if (this.chunked) connection.write("\r\n");
  }

  /** nginx's send_timeout: "client timed out" and the connection cut. */
  private timedOut(): void {
    if (!this.close()) return;
    this.flow
      .errorLogFor(this.r)
      .log(
        "info",
        "client timed out (110: Connection timed out) while sending response to client",
        this.r.logContext(),
      );
    connectionOf(this.r).destroy();
    this.flow.finalize(this.r, false);
  }

  /** Leave the set; false if already closed. */
  private close(): boolean {
    if (!this.open) return false;
    this.open = false;
    connectionOf(this.r).onAbortHandler = undefined;
    feeds.delete(this);
    if (feeds.size === 0) stopTimer();
    return true;
  }

  get request(): HttpRequest {
    return this.r;
  }
}

const feeds = new Set<Feed>();
let timer: NodeJS.Timeout | undefined;
/** A gathering under way (the master may take a moment): the next tick does not start another. */
let gathering = false;

/** Answer `r` (a GET) with the feed: the head now, the first snapshot as soon as it is gathered. */
export function openFeed(r: HttpRequest, flow: ContentFlow): void {
  const head = r.method === "HEAD";
  const chunked = !head && r.head.version >= 1001 && connectionOf(r).http2 === undefined;
  const text = ownResponseHead(r, {
    status: 200,
    contentType: "text/event-stream",
    contentLength: undefined,
    chunked,
    bodyEnd: head || chunked ? "framed" : "close",
    // A stream of events is never compressed: gzip would hold the events back.
    gzip: "none",
    listed: [["Cache-Control", "no-cache"]],
  });
  r.status = 200;
  r.headerBytes = text.text.length;
  const connection = connectionOf(r);
  connection.write(text.text);
  if (head) {
    flow.finalize(r, text.keepAlive);
    return;
  }
  const feed = new Feed(r, flow, chunked);
  connection.onAbortHandler = () => feed.aborted();
  feeds.add(feed);
  feed.send(`retry: ${RETRY_MS}\n\n`);
  void gather(flow, [feed]);
  timer ??= setInterval(tick, FEED_INTERVAL_MS).unref();
}

/** Graceful shutdown: every open feed ends now. */
export function endFeeds(): void {
  for (const feed of [...feeds]) feed.end();
}

/** Feeds open in this process. */
export function openFeeds(): number {
  return feeds.size;
}

function tick(): void {
  if (gathering) return;
  const first = feeds.values().next().value;
  if (first === undefined) return;
  void gather(first.flow, [...feeds]);
}

/** The server's figures, sent to `to` as one event. */
async function gather(flow: ContentFlow, to: readonly Feed[]): Promise<void> {
  gathering = true;
  try {
    const figures = await serverFigures(flow.connectionStats());
    const event = `data: ${JSON.stringify(dashboardSnapshot(figures, Date.now()))}\n\n`;
    for (const feed of to) feed.send(event);
  } catch (err) {
    const r = to[0]?.request;
    if (r) flow.errorLogFor(r).log("alert", `dashboard figures failed: ${String(err)}`, r.logContext());
  } finally {
    gathering = false;
  }
}

function stopTimer(): void {
  if (timer !== undefined) clearInterval(timer);
  timer = undefined;
}
