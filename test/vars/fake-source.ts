/**
 * A request as the variables see it, for unit tests: every field of
 * VariableSource with a plain default, overridable per test.
 */

import type { HeaderList, UpstreamTry, VariableSource } from "../../src/vars/source.js";

type Writable<T> = { -readonly [K in keyof T]: T[K] };

export type FakeSource = Writable<VariableSource>;

export function fakeSource(overrides: Partial<FakeSource> = {}): FakeSource {
  return {
    variableCache: [],
    remoteAddress: "127.0.0.1",
    remotePort: 40000,
    serverAddress: "127.0.0.1",
    serverPort: 8080,
    connectionId: 1,
    connectionRequests: 1,
    method: "GET",
    requestLine: "GET / HTTP/1.1",
    requestTarget: "/",
    uri: "/",
    args: "",
    httpVersion: "HTTP/1.1",
    headers: [],
    hostHeader: "",
    serverName: "",
    startMs: Date.now(),
    requestLength: 0,
    status: 0,
    bytesSent: 0,
    bodyBytesSent: 0,
    responseHeaders: [],
    upstreamTries: [],
    proxyHost: "",
    captures: undefined,
    ...overrides,
  };
}

/** One upstream try with "nothing happened yet" values. */
export function upstreamTry(overrides: Partial<UpstreamTry> = {}): UpstreamTry {
  return {
    addr: "127.0.0.1:8010",
    status: 0,
    connectMs: -1,
    headerMs: -1,
    responseMs: -1,
    bytesReceived: 0,
    bytesSent: 0,
    responseHeaders: [] as HeaderList,
    ...overrides,
  };
}
