/**
 * The two proxies of bench/http2.ts and their backend: one configuration that
 * Debian's nginx 1.22 and wsgate both read (nginx predates `http2 on`, so the
 * `listen … http2` parameter; wsgate also gets `wsgate_http2_websocket on`),
 * a self-signed certificate for its TLS address, each proxy alone on core 0,
 * and the raw echo backend (bench/echo-backend.ts) on core 1.
 */

import { execFileSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { withMallocTrim } from "../src/process/malloc-env.js";
import { LOAD_CORE, NOFILE, PROXY_CORE, freePort, lines, pinned, stopProxy, waitForPort } from "./processes.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const DIST = join(ROOT, "dist", "bench");
export const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((path) => existsSync(path));
export const PEERS = ["nginx", "wsgate"] as const;
export type PeerName = (typeof PEERS)[number];

export interface Ports {
  readonly h2c: number;
  readonly h1: number;
  readonly tls: number;
}

/**
 * One server with three addresses: h2c (`listen … http2` on a plain address: prior knowledge),
 * plain HTTP/1.1, and TLS with h2 by ALPN; `return 200`, a proxied GET with upstream keep-alive,
 * and WebSocket upgrades to the backend. Debian's nginx 1.22 predates `http2 on`, so both read the
 * `listen` parameter (wsgate warns that it is deprecated, as nginx 1.28 does).
 */
function http2Config(peer: PeerName, ports: Ports, backend: number, prefix: string): string {
  return `worker_processes 1;
worker_rlimit_nofile ${NOFILE};
pid logs/nginx.pid;
error_log logs/error.log error;
events {
    worker_connections ${NOFILE};
}
http {
    access_log off;
    # nginx's default (1000) ends an HTTP/2 connection every 1000 streams: h2load would count the
    # streams in flight then as failed.
    keepalive_requests 1000000;
    map $http_upgrade $connection_upgrade {
        default upgrade;
        '' close;
    }
    upstream backend {
        server 127.0.0.1:${backend};
        keepalive 32;
    }
    server {
        listen 127.0.0.1:${ports.h2c} http2;
        listen 127.0.0.1:${ports.h1};
        listen 127.0.0.1:${ports.tls} ssl http2;
        ssl_certificate ${join(prefix, "cert.pem")};
        ssl_certificate_key ${join(prefix, "key.pem")};
${peer === "wsgate" ? "        wsgate_http2_websocket on;\n" : ""}        location = /return {
            return 200 "ok\\n";
        }
        location = /proxy {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
        }
    }
}
`;
}

export interface Proxy {
  readonly ports: Ports;
  readonly pid: number | undefined;
  readonly child: ChildProcess;
  /** Stops it; returns its error-log and stderr lines. */
  stop(): Promise<string[]>;
}

export async function startProxy(peer: PeerName, backend: number): Promise<Proxy> {
  const prefix = mkdtempSync(join(tmpdir(), `wsgate-bench-h2-${peer}-`));
  mkdirSync(join(prefix, "logs"));
  execFileSync(
    "openssl",
    [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"],
      ...["-subj", "/CN=localhost", "-keyout", join(prefix, "key.pem"), "-out", join(prefix, "cert.pem")],
    ],
    { stdio: "ignore" },
  );
  const ports = { h2c: await freePort(), h1: await freePort(), tls: await freePort() };
  writeFileSync(join(prefix, "nginx.conf"), http2Config(peer, ports, backend, prefix));
  const globals = "daemon off; master_process off;";
  const argv =
    peer === "nginx"
      ? [NGINX!, "-p", prefix + "/", "-c", join(prefix, "nginx.conf"), "-g", globals]
      : [process.execPath, join(ROOT, "bin", "wsgate.js"), "-p", prefix, "-c", "nginx.conf", "-g", globals];
  const env = peer === "wsgate" ? withMallocTrim(process.env) : process.env;
  const child = pinned(PROXY_CORE, argv, "ignore", env);
  const output = lines(child, () => undefined);
  for (const port of Object.values(ports)) await waitForPort(port, child, peer);
  return {
    ports,
    pid: child.pid,
    child,
    // The deprecation warning of `listen … http2` is expected: the configuration has to be 1.22's.
    stop: () => stopProxy(child, peer, prefix, output, /deprecated/),
  };
}

export function startBackend(): Promise<{ child: ChildProcess; port: number }> {
  const child = pinned(LOAD_CORE, [process.execPath, join(DIST, "echo-backend.js"), "0", "raw"]);
  return new Promise((resolve, reject) => {
    const output = lines(child, (line) => {
      const match = /^ready (\d+)$/.exec(line);
      if (match) resolve({ child, port: Number(match[1]) });
    });
    child.once("exit", () => reject(new Error(`backend exited: ${output.stderr()}`)));
  });
}
