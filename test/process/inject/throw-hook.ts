/**
 * Loaded into wsgate by tests with `node --import` (NODE_OPTIONS, so the
 * master's workers load it too): throws on demand, with no test code in
 * wsgate itself. It wraps the request flow's and the connection's own methods:
 *
 * - a request for /throw-in-handler: the head handler throws (inside a connection);
 * - a body chunk holding "!THROW!": the connection's data handler throws while
 *   the request is in flight (its upstream peer taken);
 * - a request for /throw-outside: a throw from a timer, outside any connection.
 */

import { ClientConnection } from "../../../src/http/connection.js";
import { RequestFlow } from "../../../src/http/request-flow.js";

const onHead = RequestFlow.prototype.onHead;
RequestFlow.prototype.onHead = function (this: RequestFlow, ...args: Parameters<RequestFlow["onHead"]>): void {
  const target = args[1].target;
  if (target.startsWith("/throw-in-handler")) throw new Error("injected: a request handler threw");
  if (target.startsWith("/throw-outside")) {
    setImmediate(() => {
      throw new Error("injected: a throw outside any connection");
    });
  }
  onHead.apply(this, args);
};

const onData = ClientConnection.prototype.onData;
ClientConnection.prototype.onData = function (this: ClientConnection, chunk: Buffer): void {
  if (this.requests > 0 && chunk.includes("!THROW!")) throw new Error("injected: a body handler threw");
  onData.call(this, chunk);
};
