/**
 * The tunnel over TLS keeps what it keeps over TCP (the cases of
 * test/flow/tunnel-cases.ts): a client that stops reading makes wsgate stop
 * reading from the backend (memory bounded), every byte arrives once it reads
 * again, and a side that half-closes has what it sent delivered before both
 * are closed (a TLS close_notify, then FIN).
 */

import { after, before, describe } from "node:test";
import type { Server, Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { seedHttp } from "../support/seed-config.js";
import { tunnelCases, upgradeThrough, upgradingBackend } from "../flow/tunnel-cases.js";
import { makeCerts, opensslSkip, type TestCerts } from "./certs.js";
import { freePort, httpConf, startWsgate, type WsgateProcess } from "../support/proxy.js";
import { eventWithin } from "../support/wait.js";

describe("the tunnel over TLS: back-pressure and half-close", { skip: opensslSkip() }, () => {
  let certs: TestCerts;
  let wsgate: WsgateProcess;
  let backend: Server;
  let proxyPort: number;
  let onTunnel: (socket: Socket) => void = () => undefined;

  before(async () => {
    certs = makeCerts();
    const started = await upgradingBackend((socket) => onTunnel(socket));
    backend = started.server;
    proxyPort = await freePort();
    wsgate = await startWsgate({
      conf: httpConf(
        `ssl_certificate ${certs.aCrt}; ssl_certificate_key ${certs.aKey};\n` +
          seedHttp(started.port, `127.0.0.1:${proxyPort} ssl`),
        "master_process off;",
      ),
    });
  });

  after(async () => {
    await wsgate?.stop();
    backend?.close();
    certs?.remove();
  });

  tunnelCases({
    onTunnel: (handler) => (onTunnel = handler),
    client: async () => {
      const socket = tlsConnect({
        host: "127.0.0.1",
        port: proxyPort,
        rejectUnauthorized: false,
        servername: "a.test",
      });
      socket.on("error", () => undefined);
      await eventWithin(socket, "secureConnect", 3000);
      return { socket, rest: await upgradeThrough(socket) };
    },
    pid: () => wsgate.child.pid!,
    totalMb: 64,
    heldBackMb: 32,
    maxGrowthKb: 48 * 1024,
  });
});
