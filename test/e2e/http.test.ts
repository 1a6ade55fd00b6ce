/**
 * Plain HTTP through the seed's configuration, raw sockets on both sides:
 * the head the backend sees (the map's Connection, Host), request bodies
 * (length and chunked, 5 MB, streamed), response framings, keep-alive,
 * pipelining; and upgrades the backend refuses, after which the client
 * connection goes on as HTTP.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import { freePort, startWsgate, type WsgateProcess } from "../support/proxy.js";
import {
  header,
  rawBackend,
  rawClient,
  rawExchange,
  seedConf,
  sha256,
  statusOf,
  upgradeRequest,
  within,
  type Message,
  type RawBackend,
  type WireReader,
} from "./wire.js";

/** A whole response with a length, and the backend closes. */
function reply(socket: Socket, status: string, body: string | Buffer, extra = ""): void {
  const data = typeof body === "string" ? Buffer.from(body, "latin1") : body;
  socket.write(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${data.length}\r\n${extra}\r\n`);
  socket.end(data);
}

const CHUNKED_PIECES = ["first piece, ", "second piece, ", "x".repeat(70_000), " and the end"];

describe("plain HTTP through the seed's configuration", () => {
  let backend: RawBackend;
  let wsgate: WsgateProcess;
  let proxyPort: number;
  /** Every request the backend read, by target. */
  const seen = new Map<string, Message>();
  /** Resolved by the /stream handler once the first body bytes reached the backend. */
  let streamed: () => void = () => undefined;

  before(async () => {
    backend = await rawBackend(async (socket, reader) => {
      const head = await reader.head();
      const target = head.startLine.split(" ")[1] ?? "";
      const path = target.split("?")[0]!;
      if (path === "/stream") {
        // Read the first bytes of the body, tell the client, then the rest.
        const length = Number(header(head, "content-length"));
        const first = await reader.bytes(1024);
        streamed();
        const rest = await reader.bytes(length - 1024);
        const body = Buffer.concat([first, rest]);
        seen.set(target, { ...head, body, framing: "length" });
        reply(socket, "200 OK", `${body.length} ${sha256(body)}`);
        return;
      }
      const request = await reader.requestBody(head);
      seen.set(target, request);
      await respond(socket, reader, path, target, request);
    });
    proxyPort = await freePort();
    // The 5 MB bodies need more than nginx's default client_max_body_size (1m); /stream streams
    // request bodies (proxy_request_buffering off), the seed's location reads them whole first.
    const stream = "location /stream { proxy_pass http://websocket; proxy_request_buffering off; }";
    wsgate = await startWsgate({ conf: seedConf(proxyPort, backend.port, `client_max_body_size 8m; ${stream}`) });
  });

  after(async () => {
    await wsgate?.stop();
    await backend?.close();
  });

  async function respond(socket: Socket, _reader: WireReader, path: string, target: string, request: Message) {
    switch (path) {
      case "/plain":
        reply(socket, "200 OK", `answer to ${target}`);
        return;
      case "/body":
        reply(socket, "200 OK", `${request.body.length} ${sha256(request.body)}`);
        return;
      case "/slow":
        await new Promise((resolve) => setTimeout(resolve, 150));
        reply(socket, "200 OK", `answer to ${target}`);
        return;
      case "/no-length":
        // No Content-Length, no chunking: the body ends when the backend closes.
        socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n");
        socket.write("until ");
        // A pause on purpose: the body comes in two pieces.
        await new Promise((resolve) => setTimeout(resolve, 20));
        socket.end("the backend closes");
        return;
      case "/chunked":
        socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n");
        for (const piece of CHUNKED_PIECES) {
          socket.write(`${Buffer.byteLength(piece).toString(16)}\r\n${piece}\r\n`);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        socket.end("0\r\n\r\n");
        return;
      case "/ws":
        socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
        socket.end();
        return;
      case "/refuse/426":
        reply(socket, "426 Upgrade Required", "upgrade refused", "Upgrade: websocket\r\n");
        return;
      case "/refuse/400":
        reply(socket, "400 Bad Request", "bad handshake");
        return;
      case "/refuse/200":
        reply(socket, "200 OK", "just a page");
        return;
      default:
        reply(socket, "404 Not Found", "no such path");
    }
  }

  function curlRequest(target: string, extra = ""): string {
    return `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${proxyPort}\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n${extra}\r\n`;
  }

  function seenHead(target: string): Message {
    const head = seen.get(target);
    assert.ok(head, `the backend saw ${target}`);
    return head;
  }

  test("a curl-like request gets the backend's answer; the backend sees Connection: close and Host: websocket", async () => {
    const response = await rawExchange(proxyPort, curlRequest("/plain?curl"));
    assert.equal(response.startLine, "HTTP/1.1 200 OK");
    assert.equal(response.body.toString(), "answer to /plain?curl");
    const head = seenHead("/plain?curl");
    assert.equal(head.startLine, "GET /plain?curl HTTP/1.1");
    assert.equal(header(head, "connection"), "close", "the map's '' key: no Upgrade header, Connection: close");
    assert.equal(header(head, "upgrade"), undefined, "no Upgrade header upstream");
    assert.equal(header(head, "host"), "websocket", "Host: the upstream's name ($proxy_host)");
    assert.equal(header(head, "user-agent"), "curl/8.5.0");
    assert.equal(header(head, "accept"), "*/*");
    // Byte for byte as nginx sends it: proxy_set_header lines in order (an empty Upgrade is not sent), Host, the client's.
    assert.equal(
      head.raw,
      "GET /plain?curl HTTP/1.1\r\nConnection: close\r\nHost: websocket\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
    );
  });

  test("a WebSocket request reaches the backend with Connection: upgrade and Upgrade: websocket", async () => {
    const { socket, reader } = await rawClient(proxyPort);
    try {
      socket.write(upgradeRequest(proxyPort, "/ws"));
      assert.equal(statusOf(await reader.head()), 101);
    } finally {
      socket.destroy();
    }
    const head = seenHead("/ws");
    assert.equal(header(head, "connection"), "upgrade", "the map's default");
    assert.equal(header(head, "upgrade"), "websocket");
    assert.equal(header(head, "host"), "websocket");
    assert.equal(header(head, "sec-websocket-key"), "dGhlIHNhbXBsZSBub25jZQ==");
    assert.equal(header(head, "sec-websocket-version"), "13");
    assert.equal(
      head.raw,
      "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\nHost: websocket\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
  });

  test("with proxy_request_buffering off, a 5 MB body with Content-Length is streamed to the backend intact", async () => {
    const body = randomBytes(5 * 1024 * 1024);
    const firstBytes = new Promise<void>((resolve) => (streamed = resolve));
    const { socket, reader } = await rawClient(proxyPort);
    try {
      socket.write(curlRequest("/stream?length", `Content-Length: ${body.length}\r\n`));
      socket.write(body.subarray(0, 64 * 1024));
      // The backend has the body's start while the client still holds most of it.
      await within(firstBytes, 3000, "the body's first bytes at the backend");
      socket.write(body.subarray(64 * 1024));
      const response = await reader.response();
      assert.equal(statusOf(response), 200);
      assert.equal(response.body.toString(), `${body.length} ${sha256(body)}`);
    } finally {
      socket.destroy();
    }
  });

  test("a 5 MB chunked body arrives intact", async () => {
    const body = randomBytes(5 * 1024 * 1024);
    const { socket, reader } = await rawClient(proxyPort);
    try {
      socket.write(curlRequest("/body?chunked", "Transfer-Encoding: chunked\r\n"));
      for (let at = 0; at < body.length; at += 100_000) {
        const piece = body.subarray(at, at + 100_000);
        socket.write(`${piece.length.toString(16)}\r\n`);
        socket.write(piece);
        socket.write("\r\n");
      }
      socket.write("0\r\n\r\n");
      const response = await reader.response();
      assert.equal(statusOf(response), 200);
      assert.equal(response.body.toString(), `${body.length} ${sha256(body)}`);
    } finally {
      socket.destroy();
    }
    assert.equal(seenHead("/body?chunked").body.length, body.length);
  });

  test("a response with Content-Length passes with its length", async () => {
    const response = await rawExchange(proxyPort, curlRequest("/plain?length"));
    assert.equal(response.framing, "length");
    assert.equal(header(response, "content-length"), String("answer to /plain?length".length));
    assert.equal(response.body.toString(), "answer to /plain?length");
  });

  test("a response the backend ends by closing is chunked to an HTTP/1.1 client, which keeps its connection", async () => {
    const { socket, reader } = await rawClient(proxyPort);
    try {
      socket.write(curlRequest("/no-length?11"));
      const response = await reader.response();
      assert.equal(statusOf(response), 200);
      assert.equal(header(response, "transfer-encoding"), "chunked");
      assert.equal(header(response, "content-length"), undefined);
      assert.equal(header(response, "connection"), "keep-alive");
      assert.equal(response.body.toString(), "until the backend closes");
      // The chunked coding ended the response: the connection serves another.
      socket.write(curlRequest("/plain?after-chunked"));
      assert.equal((await reader.response()).body.toString(), "answer to /plain?after-chunked");
    } finally {
      socket.destroy();
    }
  });

  test("a response the backend ends by closing goes to an HTTP/1.0 client until the close", async () => {
    const response = await rawExchange(proxyPort, `GET /no-length?10 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n`);
    assert.equal(statusOf(response), 200);
    assert.equal(response.framing, "close");
    assert.equal(response.body.toString(), "until the backend closes");
  });

  test("a chunked response arrives whole", async () => {
    const response = await rawExchange(proxyPort, curlRequest("/chunked"));
    assert.equal(statusOf(response), 200);
    assert.equal(response.body.toString(), CHUNKED_PIECES.join(""));
  });

  test("keep-alive: two requests on one client connection", async () => {
    const { socket, reader } = await rawClient(proxyPort);
    try {
      socket.write(curlRequest("/plain?keep=1"));
      const first = await reader.response();
      assert.equal(first.body.toString(), "answer to /plain?keep=1");
      assert.equal(header(first, "connection"), "keep-alive");
      assert.equal(reader.isEnded, false, "the connection stays open");
      socket.write(curlRequest("/plain?keep=2"));
      const second = await reader.response();
      assert.equal(second.body.toString(), "answer to /plain?keep=2");
    } finally {
      socket.destroy();
    }
  });

  test("pipelined requests are answered in order", async () => {
    const { socket, reader } = await rawClient(proxyPort);
    try {
      // The first is the slowest to answer; all three go in one write.
      socket.write(curlRequest("/slow?pipe=1") + curlRequest("/plain?pipe=2") + curlRequest("/plain?pipe=3"));
      const bodies: string[] = [];
      for (let i = 0; i < 3; i++) bodies.push((await reader.response()).body.toString());
      assert.deepEqual(bodies, ["answer to /slow?pipe=1", "answer to /plain?pipe=2", "answer to /plain?pipe=3"]);
    } finally {
      socket.destroy();
    }
  });

  test("pipelined requests with bodies keep their bodies apart", async () => {
    const { socket, reader } = await rawClient(proxyPort);
    try {
      const first = "x".repeat(3000);
      const chunked = "7\r\nchunked\r\n5\r\n body\r\n0\r\n\r\n";
      socket.write(
        curlRequest("/body?pipe-length", `Content-Length: ${first.length}\r\n`) +
          first +
          curlRequest("/body?pipe-chunked", "Transfer-Encoding: chunked\r\n") +
          chunked +
          curlRequest("/plain?pipe-last"),
      );
      const bodies: string[] = [];
      for (let i = 0; i < 3; i++) bodies.push((await reader.response()).body.toString());
      assert.deepEqual(bodies, [
        `${first.length} ${sha256(Buffer.from(first))}`,
        `12 ${sha256(Buffer.from("chunked body"))}`,
        "answer to /plain?pipe-last",
      ]);
    } finally {
      socket.destroy();
    }
  });

  for (const [status, body] of [
    [426, "upgrade refused"],
    [400, "bad handshake"],
    [200, "just a page"],
  ] as const) {
    test(`an upgrade the backend refuses with ${status} passes as HTTP, and the connection serves the next request`, async () => {
      const { socket, reader } = await rawClient(proxyPort);
      try {
        socket.write(upgradeRequest(proxyPort, `/refuse/${status}`));
        const refused = await reader.response();
        assert.equal(statusOf(refused), status);
        assert.equal(refused.body.toString(), body);
        assert.equal(header(refused, "connection"), "keep-alive", "no tunnel: the client connection stays HTTP");
        // As nginx: the backend's Upgrade header (sent with the 426) is passed on.
        assert.equal(header(refused, "upgrade"), status === 426 ? "websocket" : undefined);
        // The next bytes are a new request, not tunnel traffic.
        socket.write(curlRequest(`/plain?after=${status}`));
        const next = await reader.response();
        assert.equal(statusOf(next), 200);
        assert.equal(next.body.toString(), `answer to /plain?after=${status}`);
        const head = seenHead(`/plain?after=${status}`);
        assert.equal(header(head, "upgrade"), undefined);
        assert.equal(header(head, "connection"), "close");
      } finally {
        socket.destroy();
      }
    });
  }
});
