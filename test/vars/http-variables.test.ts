/**
 * The request, response and upstream variables against a fake request, with
 * nginx's values in the corner cases (nginx 1.23+ joins repeated headers).
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { VariableRegistry } from "../../src/vars/registry.js";
import { registerHttpVariables, requestHeadersRead, variableName } from "../../src/vars/http-variables.js";
import { NGINX_VERSION } from "../../src/version.js";
import { fakeSource, upstreamTry, type FakeSource } from "./fake-source.js";

/** Look variables up by name: undefined is nginx's "not found". */
function reader(names: readonly string[]): (r: FakeSource, name: string) => string | undefined {
  const vars = new VariableRegistry();
  registerHttpVariables(vars);
  const indexes = new Map(names.map((name) => [name, vars.indexOf(name)]));
  vars.link();
  return (r, name) => {
    const index = indexes.get(name);
    assert.ok(index !== undefined, `variable ${name} was registered by the test`);
    return vars.lookup(r, index);
  };
}

function basic(credentials: string): string {
  return "Basic " + Buffer.from(credentials, "latin1").toString("base64");
}

describe("request headers", () => {
  const get = reader(["http_x_forwarded_for", "http_cookie", "http_user_agent", "http_host", "content_length"]);

  test("$http_NAME: matched with - as _ and any case; repeated headers joined with ', '", () => {
    const r = fakeSource({
      headers: [
        ["X-Forwarded-For", "10.0.0.1"],
        ["Host", "h"],
        ["x-forwarded-for", "10.0.0.2"],
        ["X_Forwarded_For", "10.0.0.3"],
      ],
    });
    assert.equal(get(r, "http_x_forwarded_for"), "10.0.0.1, 10.0.0.2, 10.0.0.3");
    assert.equal(get(r, "http_host"), "h");
  });

  test("$http_cookie joins repeated Cookie headers with '; '", () => {
    const r = fakeSource({
      headers: [
        ["Cookie", "a=1"],
        ["Cookie", "b=2; c=3"],
      ],
    });
    assert.equal(get(r, "http_cookie"), "a=1; b=2; c=3");
  });

  test("a missing header is not found; an empty one is ''", () => {
    const r = fakeSource({ headers: [["User-Agent", ""]] });
    assert.equal(get(r, "http_x_forwarded_for"), undefined);
    assert.equal(get(r, "http_user_agent"), "");
    assert.equal(get(r, "content_length"), undefined);
    assert.equal(get(fakeSource({ headers: [["Content-Length", "12"]] }), "content_length"), "12");
  });
});

describe("$cookie_NAME", () => {
  const get = reader(["cookie_b", "cookie_a", "cookie_session"]);

  test("the named cookie of any Cookie header, by name without case", () => {
    const r = fakeSource({
      headers: [
        ["Cookie", "a=1; bb=x"],
        ["Cookie", "B=2; c=3"],
      ],
    });
    assert.equal(get(r, "cookie_a"), "1");
    assert.equal(get(r, "cookie_b"), "2", "bb is another cookie");
    assert.equal(get(r, "cookie_session"), undefined);
    assert.equal(get(fakeSource(), "cookie_a"), undefined);
  });

  test("spaces around '=' are skipped, the value runs to ';' (nginx: `b= 1 ; c=2` gives `1 `)", () => {
    assert.equal(get(fakeSource({ headers: [["Cookie", "b= 1 ; c=2"]] }), "cookie_b"), "1 ");
    assert.equal(get(fakeSource({ headers: [["Cookie", "x=0;  b =v"]] }), "cookie_b"), "v");
    assert.equal(get(fakeSource({ headers: [["Cookie", "a=; b=2"]] }), "cookie_a"), "");
  });
});

describe("$remote_user", () => {
  const get = reader(["remote_user"]);
  const user = (authorization: string | undefined) =>
    get(fakeSource({ headers: authorization === undefined ? [] : [["Authorization", authorization]] }), "remote_user");

  test("the user of Basic credentials; the scheme in any case", () => {
    assert.equal(user(basic("alice:secret")), "alice");
    assert.equal(user("basic " + Buffer.from("bob:pw:with:colons").toString("base64")), "bob");
    assert.equal(user(basic("carol:")), "carol");
  });

  test("not found without credentials, for another scheme, without ':' or with an empty user", () => {
    assert.equal(user(undefined), undefined);
    assert.equal(user("Bearer abc.def"), undefined);
    assert.equal(user(basic("nocolon")), undefined);
    // nginx logs "-" for `Authorization: Basic OnBhc3M=` (":pass").
    assert.equal(user(basic(":pass")), undefined);
  });
});

describe("$host, $server_name and the request line", () => {
  const get = reader(["host", "server_name", "request", "request_uri", "uri", "args", "is_args", "server_protocol"]);

  test("$host: the request's host (absolute target or Host header, as parsed), else the server's first name", () => {
    assert.equal(get(fakeSource({ hostHeader: "example.test", serverName: "srv" }), "host"), "example.test");
    assert.equal(get(fakeSource({ hostHeader: "", serverName: "srv" }), "host"), "srv");
    assert.equal(get(fakeSource({ hostHeader: "", serverName: "" }), "host"), "");
    assert.equal(get(fakeSource({ serverName: "srv" }), "server_name"), "srv");
  });

  test("$request, $request_uri, $uri, $args, $is_args, $server_protocol", () => {
    const r = fakeSource({
      requestLine: "GET /a/../b%20c?x=1 HTTP/1.0",
      requestTarget: "/a/../b%20c?x=1",
      uri: "/b c",
      args: "x=1",
      httpVersion: "HTTP/1.0",
    });
    assert.equal(get(r, "request"), "GET /a/../b%20c?x=1 HTTP/1.0");
    assert.equal(get(r, "request_uri"), "/a/../b%20c?x=1");
    assert.equal(get(r, "uri"), "/b c");
    assert.equal(get(r, "args"), "x=1");
    assert.equal(get(r, "is_args"), "?");
    assert.equal(get(r, "server_protocol"), "HTTP/1.0");
    assert.equal(get(fakeSource(), "is_args"), "");
  });
});

describe("$arg_NAME", () => {
  const get = reader(["arg_a", "arg_b", "arg_long_name"]);
  const arg = (args: string, name: string) => get(fakeSource({ args }), name);

  test("the first NAME=value, not decoded; the name matched without case", () => {
    assert.equal(arg("a=1&b=2", "arg_b"), "2");
    assert.equal(arg("a=1&a=2", "arg_a"), "1");
    assert.equal(arg("A=up", "arg_a"), "up");
    assert.equal(arg("a=x%20y+z", "arg_a"), "x%20y+z");
    assert.equal(arg("a=", "arg_a"), "");
    assert.equal(arg("a=1=2", "arg_a"), "1=2");
    assert.equal(arg("long_name=v", "arg_long_name"), "v");
  });

  test("not found: no such argument, a longer name that ends with it, no args", () => {
    assert.equal(arg("ab=1&ba=2", "arg_a"), undefined);
    assert.equal(arg("", "arg_a"), undefined);
  });

  test("a bare NAME without '=' is not a match (nginx: `?a&a=5` gives 5, `?a` is not found)", () => {
    assert.equal(arg("a&a=5&b=1", "arg_a"), "5");
    assert.equal(arg("a", "arg_a"), undefined);
  });
});

describe("response and connection variables", () => {
  const get = reader(["status", "body_bytes_sent", "bytes_sent", "sent_http_x_a", "nginx_version", "connection"]);

  test("$status is three digits: '000' before any response", () => {
    assert.equal(get(fakeSource({ status: 0 }), "status"), "000");
    assert.equal(get(fakeSource({ status: 101 }), "status"), "101");
    assert.equal(get(fakeSource({ status: 499 }), "status"), "499");
  });

  test("$status, $bytes_sent and $sent_http_* are read anew each time (not cached)", () => {
    const r = fakeSource({ status: 0, bytesSent: 0, responseHeaders: [] });
    assert.equal(get(r, "status"), "000");
    assert.equal(get(r, "sent_http_x_a"), undefined);
    r.status = 502;
    r.bytesSent = 157;
    r.bodyBytesSent = 0;
    r.responseHeaders = [
      ["X-A", "1"],
      ["x-a", "2"],
    ];
    assert.equal(get(r, "status"), "502");
    assert.equal(get(r, "bytes_sent"), "157");
    assert.equal(get(r, "body_bytes_sent"), "0");
    assert.equal(get(r, "sent_http_x_a"), "1, 2");
  });

  test("$nginx_version and $connection", () => {
    assert.equal(get(fakeSource(), "nginx_version"), NGINX_VERSION);
    assert.equal(get(fakeSource({ connectionId: 42 }), "connection"), "42");
  });
});

describe("$proxy_add_x_forwarded_for", () => {
  const get = reader(["proxy_add_x_forwarded_for"]);

  test("the client address alone without X-Forwarded-For", () => {
    assert.equal(get(fakeSource({ remoteAddress: "192.0.2.7" }), "proxy_add_x_forwarded_for"), "192.0.2.7");
  });

  test("every X-Forwarded-For value joined with ', ', then the client address", () => {
    const r = fakeSource({
      remoteAddress: "192.0.2.7",
      headers: [
        ["X-Forwarded-For", "10.0.0.1, 10.0.0.2"],
        ["X-Forwarded-For", "10.0.0.3"],
      ],
    });
    assert.equal(get(r, "proxy_add_x_forwarded_for"), "10.0.0.1, 10.0.0.2, 10.0.0.3, 192.0.2.7");
  });
});

describe("upstream variables", () => {
  const get = reader([
    "upstream_addr",
    "upstream_status",
    "upstream_response_time",
    "upstream_connect_time",
    "upstream_bytes_received",
    "upstream_http_x_b",
    "proxy_host",
  ]);

  test("not found before any try", () => {
    for (const name of ["upstream_addr", "upstream_status", "upstream_response_time", "upstream_http_x_b"]) {
      assert.equal(get(fakeSource(), name), undefined, name);
    }
  });

  test("one value per try, comma-separated; a try without a status prints '-'", () => {
    const r = fakeSource({
      upstreamTries: [
        upstreamTry({ addr: "127.0.0.1:8011", status: 0, connectMs: -1, responseMs: 2, bytesReceived: 0 }),
        upstreamTry({ addr: "127.0.0.1:8012", status: 200, connectMs: 1, responseMs: 1234, bytesReceived: 99 }),
      ],
    });
    assert.equal(get(r, "upstream_addr"), "127.0.0.1:8011, 127.0.0.1:8012");
    assert.equal(get(r, "upstream_status"), "-, 200");
    assert.equal(get(r, "upstream_connect_time"), "-, 0.001");
    assert.equal(get(r, "upstream_response_time"), "0.002, 1.234");
    assert.equal(get(r, "upstream_bytes_received"), "0, 99");
  });

  test("$upstream_http_NAME reads the last try's response headers", () => {
    const r = fakeSource({
      upstreamTries: [
        upstreamTry({ responseHeaders: [["X-B", "first"]] }),
        upstreamTry({ responseHeaders: [["X-B", "second"]] }),
      ],
    });
    assert.equal(get(r, "upstream_http_x_b"), "second");
  });

  test("$proxy_host: the location's proxy_pass host, not found without one", () => {
    assert.equal(get(fakeSource({ proxyHost: "websocket" }), "proxy_host"), "websocket");
    assert.equal(get(fakeSource({ proxyHost: "" }), "proxy_host"), undefined);
  });
});

describe("time variables", () => {
  const get = reader(["msec", "time_local", "time_iso8601", "request_time"]);

  test("formats", () => {
    const r = fakeSource({ startMs: Date.now() - 1500 });
    assert.match(get(r, "msec")!, /^\d{10}\.\d{3}$/);
    assert.match(get(r, "time_local")!, /^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}$/);
    assert.match(get(r, "time_iso8601")!, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$/);
    const seconds = Number(get(r, "request_time"));
    assert.match(get(r, "request_time")!, /^\d+\.\d{3}$/);
    assert.ok(seconds >= 1.5 && seconds < 10, `request_time ${seconds}`);
  });
});

describe("helpers", () => {
  test("variableName: lower case, '-' as '_'", () => {
    assert.equal(variableName("X-Forwarded-For"), "x_forwarded_for");
    assert.equal(variableName("Host"), "host");
  });

  test("requestHeadersRead: the headers the used variables can read, and host", () => {
    const keep = requestHeadersRead(["http_x_real_ip", "cookie_id", "remote_user", "proxy_add_x_forwarded_for", "uri"]);
    assert.deepEqual([...keep].sort(), ["authorization", "cookie", "host", "x_forwarded_for", "x_real_ip"]);
  });
});
