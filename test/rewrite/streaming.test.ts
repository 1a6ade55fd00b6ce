/**
 * proxy_buffering and X-Accel-Buffering with a server-sent-events stream:
 * the first event reaches the client while the backend still holds the
 * second, under nginx and under wsgate, and both send the same head
 * (X-Accel-Buffering is not passed on).
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { connect } from "node:net";
import { skipWithoutNginx, startPeer, type Peer } from "../differential/peers.js";
import { startScriptedBackend, type ScriptedBackend } from "./backend.js";

const skip = skipWithoutNginx();

const CONFIG = `
  server {
    listen 127.0.0.1:PORT;
    location /off/ { proxy_buffering off; proxy_pass http://127.0.0.1:BACKEND; }
    location /on/ { proxy_pass http://127.0.0.1:BACKEND; }
  }`;

/**
 * Send `request`; once the first event has arrived, release the backend's
 * second one; resolve with the whole reply. Fails (bounded) if the first event
 * does not arrive while the backend holds the second.
 */
function sseExchange(port: number, request: string, backend: ScriptedBackend): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let text = "";
    let released = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`first event not received before the second was sent; got ${JSON.stringify(text)}`));
    }, 3000);
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
      if (!released && text.includes("data: one\n\n")) {
        released = true;
        clearTimeout(timer);
        backend.release();
      }
    });
    socket.on("end", () => {
      clearTimeout(timer);
      resolve(text);
    });
    socket.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.write(request, "latin1");
  });
}

function comparable(reply: string): string {
  return reply.replace(/^(Date|Server): [^\r]*\r\n/gim, "");
}

describe("streaming: server-sent events through proxy_buffering off and X-Accel-Buffering: no", { skip }, () => {
  let backend: ScriptedBackend;
  const peers: Peer[] = [];
  before(async () => {
    backend = await startScriptedBackend();
    const config = CONFIG.replaceAll("BACKEND", String(backend.port));
    peers.push(await startPeer("nginx", config), await startPeer("wsgate", config));
  });
  after(async () => {
    for (const peer of peers) await peer.stop();
    await backend?.close();
  });

  const cases = [
    ["proxy_buffering off", "GET /off/sse HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
    [
      "proxy_buffering on, the backend says X-Accel-Buffering: no",
      `GET /on/sse?h=${encodeURIComponent("X-Accel-Buffering:no")} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
    ],
  ] as const;
  for (const [what, request] of cases) {
    test(what, async () => {
      const replies: string[] = [];
      for (const peer of peers) replies.push(comparable(await sseExchange(peer.port, request, backend)));
      const [nginx, wsgate] = replies as [string, string];
      assert.ok(nginx.endsWith("data: two\n\n\r\n0\r\n\r\n"), `nginx's reply: ${JSON.stringify(nginx)}`);
      assert.ok(!/x-accel-buffering/i.test(wsgate), "X-Accel-Buffering is not passed on");
      assert.equal(wsgate, nginx);
    });
  }

  test("proxy_buffering on: wsgate streams anyway (nginx holds the events until its buffer fills)", async () => {
    const wsgate = peers[1]!;
    const reply = await sseExchange(
      wsgate.port,
      "GET /on/sse HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
      backend,
    );
    assert.ok(reply.endsWith("b\r\ndata: one\n\n\r\nb\r\ndata: two\n\n\r\n0\r\n\r\n"), JSON.stringify(reply));
  });
});
