/**
 * What a loaded configuration holds: nginx's inheritance between levels,
 * `access_log off`, `map` lookups, upstream groups (named and implicit), and
 * paths resolved from the prefix and the configuration directory.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.js";
import type { Config, HttpConf, LocationConf, ServerConf } from "../../src/config/model.js";
import type { VariableSource } from "../../src/vars/source.js";
import { makeTempDir, nginxTest, removeTempDir, writeTree } from "../support/config-files.js";

let root: string;
let counter = 0;

before(() => {
  root = makeTempDir("config-model");
});

after(() => {
  removeTempDir(root);
});

/** Load a main file (its text may depend on the prefix) from a fresh prefix with an empty logs/ directory. */
async function loadText(
  text: string | ((prefix: string) => string),
  extra: Readonly<Record<string, string>> = {},
): Promise<Config> {
  const prefix = join(root, `case${++counter}`);
  const main = typeof text === "string" ? text : text(prefix);
  writeTree(prefix, { "conf/nginx.conf": main, "logs/.keep": "", ...extra });
  const confFile = join(prefix, "conf/nginx.conf");
  const config = await loadConfig({ prefix, confFile });
  // Everything here is valid nginx too.
  const nginx = nginxTest({ prefix, confFile });
  if (nginx) assert.deepEqual([nginx.status, nginx.emerg], [0, undefined], nginx.stderr);
  return config;
}

function httpOf(config: Config): HttpConf {
  assert.ok(config.http, "the configuration has an http block");
  return config.http;
}

function locationOf(server: ServerConf, path: string): LocationConf {
  const found = server.locations.find((location) => location.path === path);
  assert.ok(found, `location ${path}`);
  return found;
}

function headerNames(location: LocationConf | ServerConf): string[] {
  return location.loc.proxySetHeaders.map((header) => header.name);
}

/** A request as the variables see it: only what these tests read is meaningful. */
function request(headers: ReadonlyArray<readonly [string, string]>, uri = "/"): VariableSource {
  const host = headers.find(([name]) => name.toLowerCase() === "host")?.[1] ?? "";
  return {
    variableCache: [],
    remoteAddress: "127.0.0.1",
    remotePort: 40000,
    serverAddress: "127.0.0.1",
    serverPort: 8080,
    connectionId: 1,
    connectionRequests: 1,
    method: "GET",
    requestLine: `GET ${uri} HTTP/1.1`,
    requestTarget: uri,
    uri,
    args: "",
    httpVersion: "HTTP/1.1",
    headers,
    hostHeader: host.toLowerCase(),
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
  };
}

/** The value `proxy_set_header NAME VALUE` of a location would send for this request. */
function headerValue(location: LocationConf, name: string, r: VariableSource): string {
  const header = location.loc.proxySetHeaders.find((h) => h.name === name);
  assert.ok(header, `proxy_set_header ${name}`);
  return header.value.evaluate(r);
}

describe("inheritance between levels", () => {
  test("proxy_set_header: inherited by a level that sets none, replaced by one that sets any", async () => {
    const config = await loadText(
      [
        "events {}",
        "http {",
        "    proxy_set_header X-Http-A a;",
        "    proxy_set_header X-Http-B b;",
        "    server {",
        "        listen 127.0.0.1:8080;",
        "        location /inherit { proxy_pass http://127.0.0.1:9001; }",
        "        location /own {",
        "            proxy_set_header X-Own own;",
        "            proxy_pass http://127.0.0.1:9001;",
        "            location /own/nested { proxy_pass http://127.0.0.1:9001; }",
        "        }",
        "    }",
        "    server {",
        "        listen 127.0.0.1:8081;",
        "        proxy_set_header X-Server s;",
        "        location / { proxy_pass http://127.0.0.1:9001; }",
        "    }",
        "}",
        "",
      ].join("\n"),
    );
    const [first, second] = httpOf(config).servers as [ServerConf, ServerConf];
    assert.deepEqual(headerNames(first), ["X-Http-A", "X-Http-B"]);
    assert.deepEqual(headerNames(locationOf(first, "/inherit")), ["X-Http-A", "X-Http-B"]);
    const own = locationOf(first, "/own");
    assert.deepEqual(headerNames(own), ["X-Own"], "replaced, not merged with the http level's");
    assert.deepEqual(headerNames(own.locations[0]!), ["X-Own"], "a nested location inherits its parent's");
    assert.deepEqual(headerNames(second), ["X-Server"]);
    assert.deepEqual(headerNames(locationOf(second, "/")), ["X-Server"]);
  });

  test("scalar settings: the nearest level that sets one wins; defaults otherwise", async () => {
    const config = await loadText(
      [
        "events {}",
        "http {",
        "    proxy_read_timeout 30s;",
        "    proxy_http_version 1.1;",
        "    server {",
        "        listen 127.0.0.1:8080;",
        "        proxy_read_timeout 2m;",
        "        location /a { proxy_read_timeout 500ms; }",
        "        location /b { }",
        "    }",
        "}",
      ].join("\n"),
    );
    const [server] = httpOf(config).servers as [ServerConf];
    assert.equal(server.loc.proxyReadTimeoutMs, 120_000);
    assert.equal(locationOf(server, "/a").loc.proxyReadTimeoutMs, 500);
    assert.equal(locationOf(server, "/b").loc.proxyReadTimeoutMs, 120_000);
    assert.equal(locationOf(server, "/b").loc.proxyHttpVersion, "1.1");
    assert.equal(locationOf(server, "/b").loc.proxyConnectTimeoutMs, 60_000, "nginx's default");
  });

  test("access_log: paths from the prefix, inherited, and 'off' per level", async () => {
    const config = await loadText((prefix) =>
      [
        "events {}",
        "http {",
        "    log_format tiny '$remote_addr $status';",
        "    access_log logs/main.log tiny;",
        "    server {",
        "        listen 127.0.0.1:8080;",
        "        location /logged { }",
        "        location /quiet { access_log off; }",
        `        location /other { access_log ${prefix}/logs/other.log; }`,
        "    }",
        "    server {",
        "        listen 127.0.0.1:8081;",
        "        access_log off;",
        "        location / { }",
        "    }",
        "}",
      ].join("\n"),
    );
    const prefix = config.prefix;
    const [first, second] = httpOf(config).servers as [ServerConf, ServerConf];
    const logged = locationOf(first, "/logged").loc.accessLogs;
    assert.ok(Array.isArray(logged));
    assert.deepEqual(
      logged.map((target) => [target.path, target.format.name]),
      [[join(prefix, "logs/main.log"), "tiny"]],
    );
    assert.equal(locationOf(first, "/quiet").loc.accessLogs, "off");
    const other = locationOf(first, "/other").loc.accessLogs;
    assert.ok(Array.isArray(other));
    assert.deepEqual(
      other.map((target) => [target.path, target.format.name]),
      [[join(prefix, "logs/other.log"), "combined"]],
    );
    assert.equal(second.loc.accessLogs, "off");
    assert.equal(locationOf(second, "/").loc.accessLogs, "off");
  });
});

describe("map", () => {
  test("default, the empty key, regexes with captures, exact keys, hostnames", async () => {
    const config = await loadText(
      [
        "events {}",
        "http {",
        "    map $http_upgrade $connection_upgrade {",
        "        default upgrade;",
        "        ''      close;",
        "    }",
        "    map $uri $kind {",
        "        default       other;",
        "        /exact        exact;",
        "        ~^/api/(v\\d+)/ api-$1;",
        "        ~*\\.JPG$      image;",
        "    }",
        "    map $http_host $site {",
        "        hostnames;",
        "        default         none;",
        "        example.com     exact;",
        "        *.example.com   wildcard;",
        "        www.example.*   trailing;",
        "    }",
        "    map $http_x_nothing $empty_default {",
        "        x y;",
        "    }",
        "    server {",
        "        listen 127.0.0.1:8080;",
        "        location / {",
        "            proxy_set_header Connection $connection_upgrade;",
        "            proxy_set_header X-Kind $kind;",
        "            proxy_set_header X-Site $site;",
        "            proxy_set_header X-Empty <$empty_default>;",
        "            proxy_pass http://127.0.0.1:9001;",
        "        }",
        "    }",
        "}",
      ].join("\n"),
    );
    const [server] = httpOf(config).servers as [ServerConf];
    const location = locationOf(server, "/");

    // A request with Upgrade gets the default; one without gets the '' key.
    assert.equal(headerValue(location, "Connection", request([["Upgrade", "websocket"]])), "upgrade");
    assert.equal(headerValue(location, "Connection", request([])), "close");

    assert.equal(headerValue(location, "X-Kind", request([], "/exact")), "exact");
    assert.equal(headerValue(location, "X-Kind", request([], "/api/v2/users")), "api-v2");
    assert.equal(headerValue(location, "X-Kind", request([], "/img/photo.jpg")), "image", "~* is caseless");
    assert.equal(headerValue(location, "X-Kind", request([], "/API/v2/")), "other", "~ is case-sensitive");

    assert.equal(headerValue(location, "X-Site", request([["Host", "Example.COM"]])), "exact");
    assert.equal(headerValue(location, "X-Site", request([["Host", "a.b.example.com"]])), "wildcard");
    assert.equal(headerValue(location, "X-Site", request([["Host", "www.example.org"]])), "trailing");
    assert.equal(headerValue(location, "X-Site", request([["Host", "example.org"]])), "none");

    assert.equal(headerValue(location, "X-Empty", request([])), "<>", "no default: the empty string");
  });
});

describe("upstreams", () => {
  test("an upstream block and the implicit groups of literal proxy_pass addresses", async () => {
    const config = await loadText(
      [
        "events {}",
        "http {",
        "    upstream Backend {",
        "        server 127.0.0.1:9001 weight=3 max_fails=2 fail_timeout=5s;",
        "        server localhost:9002 backup;",
        "    }",
        "    server {",
        "        listen 127.0.0.1:8080;",
        "        location /named { proxy_pass http://backend; }",
        "        location /literal { proxy_pass http://127.0.0.1:9003/x/; }",
        "        location /again { proxy_pass http://127.0.0.1:9003; }",
        "    }",
        "}",
      ].join("\n"),
    );
    const http = httpOf(config);
    const backend = http.upstreams.get("backend");
    assert.ok(backend, "upstream names are case-insensitive");
    assert.equal(backend.implicit, false);
    assert.deepEqual(
      backend.servers.map((s) => [s.name, s.weight, s.maxFails, s.failTimeoutMs, s.backup]),
      [
        ["127.0.0.1:9001", 3, 2, 5000, false],
        ["localhost:9002", 1, 1, 10_000, true],
      ],
    );
    assert.deepEqual(backend.servers[0]!.addresses, [
      { kind: "inet", host: "127.0.0.1", port: 9001, text: "127.0.0.1:9001" },
    ]);
    assert.ok(
      backend.servers[1]!.addresses.some((a) => a.kind === "inet" && a.host === "127.0.0.1" && a.port === 9002),
      "localhost resolved at load time",
    );

    const implicit = http.upstreams.get("127.0.0.1:9003");
    assert.ok(implicit, "a literal address makes an implicit group");
    assert.equal(implicit.implicit, true);
    assert.deepEqual(
      implicit.servers.map((s) => s.addresses),
      [[{ kind: "inet", host: "127.0.0.1", port: 9003, text: "127.0.0.1:9003" }]],
    );
    assert.equal(
      [...http.upstreams.keys()].filter((name) => name === "127.0.0.1:9003").length,
      1,
      "one group for the same address used twice",
    );

    const [server] = http.servers as [ServerConf];
    const named = locationOf(server, "/named").proxyPass;
    assert.deepEqual(named && [named.upstream, named.proxyHost, named.uri], ["backend", "backend", undefined]);
    const literal = locationOf(server, "/literal").proxyPass;
    assert.deepEqual(literal && [literal.upstream, literal.proxyHost, literal.uri], [
      "127.0.0.1:9003",
      "127.0.0.1:9003",
      "/x/",
    ]);
  });
});

describe("main context and paths", () => {
  test("defaults and values from the prefix", async () => {
    const config = await loadText("events {}\n");
    assert.equal(config.main.daemon, true);
    assert.equal(config.main.pid, join(config.prefix, "logs/nginx.pid"));
    assert.deepEqual(config.main.errorLogs, [{ path: join(config.prefix, "logs/error.log"), level: "error" }]);
    assert.equal(config.http, undefined);
    assert.equal(config.confPrefix, join(config.prefix, "conf"));
  });

  test("-e names the error log used when the configuration names none", async () => {
    const prefix = join(root, `case${++counter}`);
    writeTree(prefix, { "conf/nginx.conf": "events {}\n" });
    const config = await loadConfig({ prefix, confFile: "conf/nginx.conf", defaultErrorLog: "stderr" });
    assert.deepEqual(config.main.errorLogs, [{ path: "stderr", level: "error" }]);
    writeTree(prefix, { "conf/nginx.conf": "error_log logs/own.log info;\nevents {}\n" });
    const own = await loadConfig({ prefix, confFile: "conf/nginx.conf", defaultErrorLog: "stderr" });
    assert.deepEqual(own.main.errorLogs, [{ path: join(prefix, "logs/own.log"), level: "info" }]);
  });

  test("-g directives apply before the file's", async () => {
    const prefix = join(root, `case${++counter}`);
    writeTree(prefix, { "conf/nginx.conf": "events {}\n" });
    const config = await loadConfig({ prefix, confFile: "conf/nginx.conf", globals: "daemon off; pid run/x.pid;" });
    assert.equal(config.main.daemon, false);
    assert.equal(config.main.pid, join(prefix, "run/x.pid"));
  });

  test("every file read is recorded in order, for -T", async () => {
    const config = await loadText("events {}\ninclude parts/*.conf;\n", {
      "conf/parts/b.conf": "worker_processes 2;\n",
      "conf/parts/a.conf": "daemon off;\n",
    });
    assert.deepEqual(
      config.files.map((file) => [file.path.slice(config.prefix.length), file.text]),
      [
        ["/conf/nginx.conf", "events {}\ninclude parts/*.conf;\n"],
        ["/conf/parts/a.conf", "daemon off;\n"],
        ["/conf/parts/b.conf", "worker_processes 2;\n"],
      ],
    );
    assert.equal(config.main.daemon, false);
    assert.equal(config.main.workerProcesses, 2);
  });
});
