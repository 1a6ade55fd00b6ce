/**
 * An https backend for tests of proxy_pass https://: node:https with a
 * certificate of test-pki.ts, asking for (not requiring) a client
 * certificate. Each response is a JSON body of what the TLS side saw — the
 * SNI name, the client certificate's CN, whether the session was resumed,
 * the client's port (the connection) — and a WebSocket upgrade is answered
 * by a `ws` echo server over the same TLS socket.
 */

import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { TLSSocket } from "node:tls";
import { WebSocketServer } from "ws";
import type { Pair } from "./test-pki.js";

export interface TlsFacts {
  readonly uri: string;
  readonly host: string;
  readonly sni: string | false;
  readonly clientCn: string;
  readonly resumed: boolean;
}

export interface HttpsBackend {
  readonly port: number;
  /** The client port of each request, in order (the same port: the same kept connection). */
  readonly clientPorts: number[];
  close(): Promise<void>;
}

export async function startHttpsBackend(pair: Pair, ca: string): Promise<HttpsBackend> {
  const clientPorts: number[] = [];
  const server: Server = createServer(
    {
      key: readFileSync(pair.key),
      cert: readFileSync(pair.crt),
      ca: readFileSync(ca),
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      clientPorts.push(socket.remotePort ?? 0);
      const peer = socket.getPeerCertificate();
      const facts: TlsFacts = {
        uri: req.url ?? "",
        host: req.headers.host ?? "",
        sni: (socket as TLSSocket & { servername: string | false }).servername,
        clientCn: peer && typeof peer.subject?.CN === "string" ? peer.subject.CN : "",
        resumed: socket.isSessionReused(),
      };
      const body = JSON.stringify(facts) + "\n";
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
      res.end(body);
    },
  );
  server.on("tlsClientError", () => undefined);
  const wss = new WebSocketServer({ server });
  wss.on("connection", (ws) => {
    ws.on("error", () => ws.terminate());
    ws.on("message", (data, binary) => ws.send(data, { binary }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    port,
    clientPorts,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
