/**
 * Free TCP ports for tests: bind port 0 on a loopback address, read the port
 * the kernel chose, close. Another process can take the port between this
 * call and its use; callers that start a server on it should be ready to say
 * so in their error (startNginx includes the error log, which names bind()).
 */

import { createServer } from "node:net";

export async function freePort(host = "127.0.0.1"): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address !== "object") throw new Error(`freePort: no port on ${host}`);
  return address.port;
}

/** `count` distinct free ports (each from its own bind of port 0). */
export async function freePorts(count: number, host = "127.0.0.1"): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort(host));
  return [...ports];
}
