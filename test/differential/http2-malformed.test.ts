/**
 * Malformed HTTP/2 against Debian's nginx 1.22, frames written by hand on a
 * raw socket (h2c with prior knowledge): header names with upper case,
 * missing or misplaced pseudo-headers, DATA on stream 0, more streams than
 * http2_max_concurrent_streams, header fields and lists larger than
 * large_client_header_buffers, :authority beside host — what the client
 * receives (the :status, RST_STREAM and GOAWAY codes) and the info lines of
 * the error log, compared.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { constants } from "node:http2";
import { listenTracked, peersWith, skipWithoutNginx, type Peer, type ScriptedBackend } from "./peers.js";
import { clientStart, frame, FRAME, headers, outcome, rawH2, type H2Outcome } from "../support/h2-frames.js";
import { exchange } from "../support/sockets.js";
import { until } from "../support/wait.js";

const skip = skipWithoutNginx();

const conf = (hold: number): string => `
  log_format h2 '$request|$status|$http2|$http_host|$host';
  server {
    listen 127.0.0.1:PORT http2;
    http2_max_concurrent_streams 2;
    large_client_header_buffers 4 1k;
    access_log logs/h2.log h2;
    location /hold { proxy_pass http://127.0.0.1:${hold}; proxy_read_timeout 3s; }
    location / { return 200 "ok [$http_host] [$host]\\n"; }
  }`;

type Fields = ReadonlyArray<readonly [string, string]>;

const GET: Fields = [
  [":method", "GET"],
  [":scheme", "http"],
  [":authority", "a.test"],
  [":path", "/x"],
];

const without = (name: string): Fields => GET.filter(([field]) => field !== name);

/** What a client sees, in a form both servers can be compared by. */
interface Seen {
  readonly statuses: Record<number, number>;
  readonly resets: Record<number, number>;
  readonly goaway: number | null;
}

function seen(outcome: H2Outcome): Seen {
  return {
    statuses: Object.fromEntries(outcome.statuses),
    resets: Object.fromEntries(outcome.resets),
    goaway: outcome.goaway ?? null,
  };
}

/** Stream `id` has its answer: a response ended, a reset, or a GOAWAY. */
const answered =
  (...ids: number[]) =>
  (outcome: H2Outcome): boolean =>
    outcome.goaway !== undefined ||
    ids.every(
      (id) =>
        outcome.resets.has(id) ||
        outcome.frames.some((f) => f.stream === id && (f.type <= FRAME.HEADERS ? (f.flags & 1) !== 0 : false)),
    );

/** The error log's info lines about the client's input, without time, pid, connection number and port. */
function infoLines(peer: Peer, from: number): string[] {
  return peer
    .errorLog()
    .split("\n")
    .slice(from)
    .filter(
      (line) => / \[info\] /.test(line) && / client (sent|exceeded|prematurely)|concurrent streams|invalid/.test(line),
    )
    .map((line) => line.replace(/^\S+ \S+ (\[\w+\]) \d+#\d+: (\*\d+ )?/, "$1 ").replaceAll(`:${peer.port}`, ":PORT"));
}

interface Observed {
  readonly seen: Seen;
  readonly log: string[];
}

const errorLineCount = (peer: Peer): number => peer.errorLog().split("\n").length - 1;

describe("malformed HTTP/2 against nginx", { skip }, () => {
  let hold: ScriptedBackend;
  const peers = peersWith(
    async () => {
      // An upstream that never answers: its streams stay open.
      hold = await listenTracked(() => undefined);
      return conf(hold.port);
    },
    async () => hold.close(),
  );

  /** The exchange with nginx, then wsgate: what each client saw and the info lines each logged. */
  async function both(bytes: Buffer, enough: (outcome: H2Outcome) => boolean): Promise<Record<string, Observed>> {
    const results: Record<string, Observed> = {};
    for (const peer of [peers.nginx!, peers.wsgate!]) {
      const lines = errorLineCount(peer);
      const outcome = await rawH2(peer.port, Buffer.concat([clientStart(), bytes]), enough);
      // The info line may be written just after the frame that answers; give it a moment, bounded.
      await until(() => infoLines(peer, lines).length > 0, 300, "an info line").catch(() => undefined);
      results[peer.name] = { seen: seen(outcome), log: infoLines(peer, lines) };
    }
    return results;
  }

  /** Both alike: what the client saw and what was logged. */
  async function compare(bytes: Buffer, enough: (outcome: H2Outcome) => boolean): Promise<Observed> {
    const { nginx, wsgate } = await both(bytes, enough);
    assert.deepEqual(wsgate, nginx);
    return wsgate!;
  }

  /**
   * nghttp2 (under Node's http2) checks the stream's header list itself before wsgate sees it, and resets
   * the stream with PROTOCOL_ERROR without a word to the error log; nginx logs the reason at info and, for
   * some of them, answers. Asserted as each does: wsgate cannot see these streams.
   */
  async function resetByNghttp2(bytes: Buffer, nginxSees: Seen, nginxLogs: RegExp): Promise<void> {
    const { nginx, wsgate } = await both(bytes, answered(1));
    assert.deepEqual(nginx!.seen, nginxSees);
    assert.match(nginx!.log.join("\n"), nginxLogs);
    assert.deepEqual(wsgate, {
      seen: { statuses: {}, resets: { 1: constants.NGHTTP2_PROTOCOL_ERROR }, goaway: null },
      log: [],
    });
  }

  test("a well-formed request is answered alike (the frame writer's baseline)", async () => {
    const { seen: result } = await compare(headers(1, GET), answered(1));
    assert.deepEqual(result.statuses, { 1: 200 });
  });

  test("a header name with upper case: the stream is reset with PROTOCOL_ERROR (nginx logs why, wsgate cannot)", async () => {
    const nginxSees = { statuses: {}, resets: { 1: constants.NGHTTP2_PROTOCOL_ERROR }, goaway: null };
    await resetByNghttp2(
      headers(1, [...GET, ["X-Upper", "1"]]),
      nginxSees,
      /client sent invalid header name: "X-Upper"/,
    );
  });

  for (const name of [":method", ":path", ":scheme"]) {
    // nginx 1.22 and 1.28 alike (ngx_http_v2_construct_request_line()): 400, "client sent no … header".
    test(`no ${name}: nginx answers 400, nghttp2 resets the stream`, async () => {
      const nginxSees = { statuses: { 1: 400 }, resets: {}, goaway: null };
      await resetByNghttp2(headers(1, without(name)), nginxSees, new RegExp(`client sent no ${name} header`));
    });
  }

  test("an invalid :method: 400, logged with the host known when the field came", async () => {
    const fields: Fields = GET.map(([field, v]) => [field, field === ":method" ? "get" : v] as const);
    const result = await compare(headers(1, fields), answered(1));
    assert.deepEqual(result.seen.statuses, { 1: 400 });
    assert.match(result.log.join("\n"), /client sent invalid method: "get"/);
  });

  // nginx 1.22 answers 400 and logs "client sent invalid :path header" / "… :scheme header"; nghttp2 resets
  // these streams with PROTOCOL_ERROR before wsgate sees them (and the later ngx_http_v2.c read for this,
  // where ngx_http_v2_pseudo_header() declines, resets them too).
  const invalid: ReadonlyArray<readonly [string, string]> = [
    [":path", "x"],
    [":scheme", "1http"],
  ];
  for (const [name, value] of invalid) {
    test(`an invalid ${name} (${value}): nghttp2 resets the stream`, async () => {
      const fields: Fields = GET.map(([field, v]) => [field, field === name ? value : v] as const);
      const nginxSees = { statuses: { 1: 400 }, resets: {}, goaway: null };
      await resetByNghttp2(headers(1, fields), nginxSees, new RegExp(`client sent invalid ${name} header`));
    });
  }

  test("a pseudo-header after a regular one: nginx serves it, nghttp2 resets the stream", async () => {
    // ngx_http_v2_pseudo_header() has no order check, in 1.22 as in 1.28.
    const { nginx, wsgate } = await both(headers(1, [...without(":path"), ["x-a", "1"], [":path", "/x"]]), answered(1));
    assert.deepEqual(nginx!.seen, { statuses: { 1: 200 }, resets: {}, goaway: null });
    assert.deepEqual(wsgate!.seen, { statuses: {}, resets: { 1: constants.NGHTTP2_PROTOCOL_ERROR }, goaway: null });
  });

  test("DATA on stream 0: the connection ends with GOAWAY PROTOCOL_ERROR", async () => {
    const { nginx, wsgate } = await both(frame(FRAME.DATA, 0, 0, Buffer.from("x")), (o) => o.goaway !== undefined);
    assert.deepEqual(wsgate!.seen, nginx!.seen);
    assert.equal(wsgate!.seen.goaway, constants.NGHTTP2_PROTOCOL_ERROR);
    // nghttp2 answers the frame itself: nginx's "client sent DATA frame with incorrect identifier" has no twin.
    assert.match(nginx!.log.join("\n"), /client sent DATA frame with incorrect identifier/);
  });

  test("a stream past http2_max_concurrent_streams is refused (REFUSED_STREAM)", async () => {
    const hold = (id: number): Buffer => headers(id, [...without(":path"), [":path", `/hold/${id}`]]);
    const { nginx, wsgate } = await both(Buffer.concat([hold(1), hold(3), hold(5)]), (o) => o.resets.has(5));
    assert.deepEqual(wsgate!.seen, nginx!.seen);
    assert.equal(wsgate!.seen.resets[5], constants.NGHTTP2_REFUSED_STREAM);
    // nghttp2 refuses the stream itself (its SETTINGS_MAX_CONCURRENT_STREAMS): nginx's info line has no twin.
    assert.match(nginx!.log.join("\n"), /concurrent streams exceeded 2/);
  });

  test("a header field larger than large_client_header_buffers' size", async () => {
    const { seen: result } = await compare(headers(1, [...GET, ["x-big", "v".repeat(1500)]]), answered(1));
    assert.equal(result.goaway, constants.NGHTTP2_ENHANCE_YOUR_CALM);
  });

  test("a header list larger than large_client_header_buffers' total", async () => {
    const fields: Fields = Array.from({ length: 6 }, (_, i) => [`x-h${i}`, "v".repeat(900)] as const);
    const { seen: result } = await compare(headers(1, [...GET, ...fields]), answered(1));
    assert.equal(result.goaway, constants.NGHTTP2_ENHANCE_YOUR_CALM);
  });

  test(":authority alone, host alone, and both", async () => {
    const hostOnly: Fields = [...without(":authority"), ["host", "h.test"]];
    await compare(headers(1, hostOnly), answered(1));
    await compare(headers(1, [...GET, ["host", "a.test"]]), answered(1));
    // nginx 1.22 and 1.28 both make :authority a Host header where it stands: a second one is a duplicate.
    await compare(headers(1, [...GET, ["host", "other.test"]]), answered(1));
  });

  test("an invalid header name ignored (ignore_invalid_headers): logged, and the request served", async () => {
    const result = await compare(headers(1, [...GET, ["x_under", "1"]]), answered(1));
    assert.deepEqual(result.seen.statuses, { 1: 200 });
    assert.match(result.log.join("\n"), /client sent invalid header: "x_under"/);
  });

  test("content-length with no body (END_STREAM on the HEADERS): nginx answers 400, nghttp2 resets", async () => {
    const post: Fields = [[":method", "POST"], ...without(":method"), ["content-length", "10"]];
    // nginx: 400 and "client prematurely closed stream" (ngx_http_v2_run_request()); nghttp2 resets it first.
    const nginxSees = { statuses: { 1: 400 }, resets: {}, goaway: null };
    await resetByNghttp2(headers(1, post, true), nginxSees, /client prematurely closed stream/);
  });

  test("an answer complete before the request body has ended: RST_STREAM NO_ERROR, logged 200", async () => {
    const post: Fields = [[":method", "POST"], ...without(":method")];
    const { seen: result } = await compare(headers(1, post, false), (o) => o.resets.has(1));
    assert.deepEqual(result, { statuses: { 1: 200 }, resets: { 1: constants.NGHTTP2_NO_ERROR }, goaway: null });
    const last = (peer: Peer): string | undefined => peer.readLog("h2.log").trim().split("\n").at(-1);
    await until(() => last(peers.wsgate!)?.startsWith("POST"), 3000, "the access-log line");
    assert.equal(
      last(peers.wsgate!)!.replaceAll(String(peers.wsgate!.port), "P"),
      last(peers.nginx!)!.replaceAll(String(peers.nginx!.port), "P"),
    );
  });

  test("a bad preface: 1.22 ends the h2c-only address with GOAWAY, 1.28 (and wsgate) read HTTP/1.x", async () => {
    const bad = "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n";
    const fromNginx = outcome(await exchange(peers.nginx!.port, bad), true);
    assert.equal(fromNginx.goaway, constants.NGHTTP2_PROTOCOL_ERROR);
    // Since 1.25.1 an address with `listen … http2` (or `http2 on`) takes HTTP/2 only when the whole preface
    // comes (ngx_http_wait_request_handler()); other bytes are HTTP/1.x, and "PRI * HTTP/2.0" is no request.
    const fromWsgate = (await exchange(peers.wsgate!.port, bad)).toString("latin1");
    assert.match(fromWsgate, /^HTTP\/1\.1 400 /);
  });
});
