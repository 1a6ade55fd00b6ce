/**
 * proxy_pass to unix sockets and with variables, against nginx: the status,
 * the request head the backend receives, and the error-log line when the
 * evaluated URL cannot be used.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  comparableErrors,
  skipWithoutNginx,
  startRecordingBackend,
  type Peer,
  type RecordingBackend,
  peersWith,
} from "./peers.js";
import { exchange, hasWholeResponse } from "../support/sockets.js";

const skip = skipWithoutNginx();

const conf = (port: number, socket: string): string => `
  upstream grp { server 127.0.0.1:${port}; }
  server {
    listen PORT;
    location /u/ { proxy_pass http://unix:${socket}:/x/; }
    location /unix-whole { proxy_pass http://unix:${socket}; }
    location /missing/ { proxy_pass http://unix:${socket}.missing:/y/; }
    location /h { proxy_pass http://$arg_h; }
    location /fixed { proxy_pass http://127.0.0.1:${port}/fixed$is_args$args; }
    location /url { proxy_pass $arg_url; }
    location /hdr { proxy_pass http://$http_x_backend/from-header; proxy_set_header X-Host $proxy_host; }
  }`;

describe("differential: proxy_pass to unix sockets and with variables", { skip }, () => {
  let dir: string;
  let tcp: RecordingBackend;
  let unix: RecordingBackend;
  const peers = peersWith(
    async () => {
      dir = mkdtempSync(join(tmpdir(), "wsgate-unix-"));
      tcp = await startRecordingBackend();
      unix = await startRecordingBackend(join(dir, "backend.sock"));
      const text = conf(tcp.port, join(dir, "backend.sock"));
      return text;
    },
    async () => {
      await tcp?.close();
      await unix?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  );

  /** The status line and every head both backends received, for one peer. */
  async function run(peer: Peer, request: string): Promise<{ status: string; heads: string[] }> {
    const [tcpFrom, unixFrom] = [tcp.heads.length, unix.heads.length];
    const reply = (await exchange(peer.port, request, hasWholeResponse)).toString("latin1");
    return {
      status: reply.slice(0, reply.indexOf("\r\n")),
      heads: [...tcp.heads.slice(tcpFrom), ...unix.heads.slice(unixFrom)],
    };
  }

  const cases: ReadonlyArray<readonly [string, string]> = [
    ["unix socket with a URI part: the prefix is replaced, Host is localhost", "/u/a?q=1"],
    ["unix socket without a URI part", "/unix-whole/b%41?q=2"],
    ["a unix socket that is not there: 502 and the error line", "/missing/a"],
    ["a variable naming an upstream group", "/h/x?h=grp"],
    ["a variable holding an address and port", `/h/x?h=127.0.0.1:TCP`],
    ["with variables and no URI part, the client's URI goes as sent", "/h/p%41th/../x?h=127.0.0.1:TCP"],
    ["with variables and a URI part, that URI goes as it is", "/fixed/ignored?q=1"],
    ["a variable holding a host name: nginx needs a resolver", "/h/x?h=example.invalid"],
    ["a variable holding a bad port", "/h/x?h=foo:bar"],
    ["a variable holding no scheme", "/url?url=ftp://127.0.0.1/"],
  ];

  for (const [name, target] of cases) {
    test(name, async () => {
      const request = `GET ${target.replace("TCP", String(tcp.port))} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`;
      const nginx = await run(peers.nginx!, request);
      const wsgate = await run(peers.wsgate!, request);
      assert.deepEqual(wsgate, nginx);
    });
  }

  test("$proxy_host is the evaluated host", async () => {
    const request = `GET /hdr HTTP/1.1\r\nHost: a\r\nX-Backend: 127.0.0.1:${tcp.port}\r\nConnection: close\r\n\r\n`;
    const nginx = await run(peers.nginx!, request);
    const wsgate = await run(peers.wsgate!, request);
    assert.match(nginx.heads[0]!, new RegExp(`\\r\\nX-Host: 127.0.0.1:${tcp.port}\\r\\n`));
    assert.deepEqual(wsgate, nginx);
  });

  test("the error-log lines match", () => {
    assert.deepEqual(comparableErrors(peers.wsgate!.errorLog()), comparableErrors(peers.nginx!.errorLog()));
  });
});
