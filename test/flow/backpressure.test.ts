/**
 * The tunnel's hot path under pressure, over plain TCP: the cases of
 * tunnel-cases.ts (a reader that stops reading, half-close either way).
 */

import { after, before, describe } from "node:test";
import { connect, type Server, type Socket } from "node:net";
import { seedHttp } from "../support/seed-config.js";
import { tunnelCases, upgradeThrough, upgradingBackend } from "./tunnel-cases.js";
import { freePort, httpConf, startWsgate, type WsgateProcess } from "../support/proxy.js";
import { eventWithin } from "../support/wait.js";

describe("tunnel back-pressure and half-close", () => {
  let wsgate: WsgateProcess;
  let backend: Server;
  let proxyPort: number;
  let onTunnel: (socket: Socket) => void = () => undefined;

  before(async () => {
    const started = await upgradingBackend((socket) => onTunnel(socket));
    backend = started.server;
    proxyPort = await freePort();
    wsgate = await startWsgate({ conf: httpConf(seedHttp(started.port, `127.0.0.1:${proxyPort}`)) });
  });

  after(async () => {
    await wsgate?.stop();
    backend?.close();
  });

  tunnelCases({
    onTunnel: (handler) => (onTunnel = handler),
    client: async () => {
      const socket = connect(proxyPort, "127.0.0.1");
      socket.on("error", () => undefined);
      await eventWithin(socket, "connect", 2000);
      return { socket, rest: await upgradeThrough(socket) };
    },
    pid: () => wsgate.child.pid!,
    totalMb: 256,
    heldBackMb: 64,
    maxGrowthKb: 64 * 1024,
  });
});
