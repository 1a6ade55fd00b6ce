/**
 * `resolver`, `zone` and `server … resolve` against a tiny DNS server on
 * 127.0.0.1 whose answers the tests change: the backends a name gives are
 * found, one added to the name appears after the TTL, one taken out gets no
 * new connections while its open tunnel keeps echoing, failed lookups are
 * logged as nginx logs them and keep the addresses known; proxy_pass with a
 * host name in a variable goes through the resolver. The configuration
 * refusals are nginx's texts: those nginx 1.22 has are checked against it,
 * those of 1.27.3+ (`resolve`, `ipv4=`, resolver in upstream) follow
 * nginx 1.28's source.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError } from "../../src/core/errors.js";
import { loadConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/model.js";
import { makeTempDir, nginxTest, removeTempDir, writeTree } from "../support/config-files.js";
import { startDnsServer, type DnsServer } from "../support/dns-server.js";
import { until } from "../support/wait.js";
import { closeSocket, echo, fetchVia, openSocket, startBackend, type NamedBackend } from "./backends.js";
import { defaultUpstreamServer } from "../../src/config/modules/upstream.js";
import type { ResolverConf, UpstreamAddress } from "../../src/config/model.js";
import { DnsClient, ResolveError } from "../../src/upstream/dns.js";
import { UpstreamGroup } from "../../src/upstream/group.js";
import type { VariableSource } from "../../src/vars/source.js";
import { httpConf, startWsgate, type WsgateProcess, freePort } from "../support/proxy.js";

describe("the DNS client", () => {
  test("answers, TTL and valid=, nginx's failure codes; one query per name while valid", async () => {
    const dns = await startDnsServer();
    try {
      const conf = (validMs?: number): ResolverConf => ({
        servers: [{ host: "127.0.0.1", port: dns.port }],
        validMs,
        ipv4: true,
        ipv6: true,
        place: { file: "t", line: 1 },
      });
      dns.set("two.test", { kind: "a", addresses: ["10.0.0.1", "10.0.0.2"], ttl: 60 });
      dns.set("fail.test", { kind: "servfail" });
      dns.set("slow.test", { kind: "drop" });
      const client = new DnsClient(conf(), 1000);
      const start = Date.now();
      const answer = await client.resolve("two.test");
      assert.deepEqual([...answer.addresses].sort(), ["10.0.0.1", "10.0.0.2"]);
      assert.ok(answer.expiresMs >= start + 59_000 && answer.expiresMs <= Date.now() + 60_000);
      await client.resolve("TWO.test");
      assert.equal(dns.queries("two.test"), 1);
      const valid = await new DnsClient(conf(5000), 1000).resolve("two.test");
      assert.ok(valid.expiresMs <= Date.now() + 5000);
      const failure = async (name: string): Promise<string> =>
        client.resolve(name).then(
          () => "answered",
          (err: ResolveError) => err.message,
        );
      assert.equal(await failure("fail.test"), "2: Server failure");
      assert.equal(await failure("none.test"), "3: Host not found");
      assert.equal(await failure("slow.test"), "110: Operation timed out");
    } finally {
      await dns.close();
    }
  });
});

describe("a group's peers replaced by a new answer", () => {
  const place = { file: "test.conf", line: 1 };
  const at = (host: string): UpstreamAddress => ({ kind: "inet", host, port: 80, text: `${host}:80` });
  const r = { remoteAddress: "127.0.0.1" } as unknown as VariableSource;

  test("peers that stay keep their state; new ones are added; gone ones leave the lists but can be freed", () => {
    const group = new UpstreamGroup({
      name: "g",
      servers: [{ ...defaultUpstreamServer("chat.test", place), resolve: true, maxFails: 3 }],
      implicit: false,
      place,
    });
    assert.equal(group.peers.length, 0);
    assert.equal(group.select(r).pick(Date.now()), undefined);
    group.setAddresses(0, [at("10.0.0.1"), at("10.0.0.2")]);
    const first = group.peers.map((peer) => peer.address.text);
    assert.deepEqual(first, ["10.0.0.1:80", "10.0.0.2:80"]);
    const taken = [group.select(r).pick(Date.now())!, group.select(r).pick(Date.now())!];
    const [one, two] = group.peers;
    assert.equal(one!.active + two!.active, 2);
    assert.equal(one!.maxFails, 3);
    group.free(
      taken.find((peer) => peer === two)!,
      "failed",
      Date.now(),
    );
    assert.equal(two!.fails, 1);

    group.setAddresses(0, [at("10.0.0.1"), at("10.0.0.3")]);
    assert.equal(group.peers[0], one, "the peer of an address that stays is the same object");
    assert.equal(group.peers[0]!.active, 1);
    assert.deepEqual(
      group.peers.map((peer) => peer.address.text),
      ["10.0.0.1:80", "10.0.0.3:80"],
    );
    assert.equal(group.tries, 2);
    // The request still holding the gone peer ends normally.
    group.free(one!, "ok", Date.now());
    assert.equal(one!.active, 0);
    for (let i = 0; i < 4; i++) {
      const peer = group.select(r).pick(Date.now())!;
      assert.notEqual(peer.address.text, "10.0.0.2:80");
      group.free(peer, "ok", Date.now());
    }
    group.setAddresses(0, []);
    assert.equal(group.select(r).pick(Date.now()), undefined);
  });
});

describe("resolver, zone and resolve: configuration", () => {
  let root: string;
  let counter = 0;
  before(() => {
    root = makeTempDir("resolver-config");
  });
  after(() => removeTempDir(root));

  async function load(http: string): Promise<{ config?: Config; error?: ConfigError; prefix: string; file: string }> {
    const prefix = join(root, `case${++counter}`);
    writeTree(prefix, { "conf/nginx.conf": `events {}\nhttp {\n${http}\n}\n` });
    const file = join(prefix, "conf/nginx.conf");
    try {
      return { config: await loadConfig({ prefix, confFile: file }), prefix, file };
    } catch (err) {
      if (err instanceof ConfigError) return { error: err, prefix, file };
      throw err;
    }
  }

  /** wsgate refuses with `message` (FILE stands for the file); nginx -t says the same when `nginx122` (1.22 has it). */
  async function refuses(http: string, message: string, nginx122 = true): Promise<void> {
    const { error, prefix, file } = await load(http);
    assert.ok(error, `expected "${message}"`);
    assert.equal(error.message, message.replaceAll("FILE", file));
    if (!nginx122) return;
    const nginx = nginxTest({ prefix, confFile: file });
    if (nginx) assert.equal(nginx.emerg, error.message, nginx.stderr);
  }

  async function accepts(http: string, nginx122 = true): Promise<Config> {
    const { config, error, prefix, file } = await load(http);
    assert.ok(config, error?.message);
    if (nginx122) {
      const nginx = nginxTest({ prefix, confFile: file });
      if (nginx) assert.equal(nginx.status, 0, nginx.stderr);
    }
    return config;
  }

  test("resolver and resolver_timeout: arguments, levels and inheritance", async () => {
    const config = await accepts(
      `resolver 127.0.0.1 [::1]:5353 valid=30s ipv6=off; resolver_timeout 5s;
       server { listen 127.0.0.1:18080; location / { resolver 127.0.0.2; } location /b { resolver_timeout 1s; } }`,
    );
    const http = config.http!;
    assert.deepEqual(http.loc.resolver?.servers, [
      { host: "127.0.0.1", port: 53 },
      { host: "::1", port: 5353 },
    ]);
    assert.equal(http.loc.resolver?.validMs, 30_000);
    assert.equal(http.loc.resolver?.ipv6, false);
    assert.equal(http.loc.resolverTimeoutMs, 5000);
    const [a, b] = http.servers[0]!.locations;
    assert.deepEqual(a!.loc.resolver?.servers, [{ host: "127.0.0.2", port: 53 }]);
    assert.equal(a!.loc.resolverTimeoutMs, 5000);
    assert.equal(b!.loc.resolver, http.loc.resolver);
    assert.equal(b!.loc.resolverTimeoutMs, 1000);
    const plain = await accepts(`server { listen 127.0.0.1:18080; }`);
    assert.equal(plain.http!.loc.resolver, undefined);
    assert.equal(plain.http!.loc.resolverTimeoutMs, 30_000);
  });

  test("resolver refusals, as nginx words them", async () => {
    await refuses(`resolver 127.0.0.1 valid=500ms;`, `invalid parameter: valid=500ms in FILE:3`);
    await refuses(`resolver 127.0.0.1 valid=x;`, `invalid parameter: valid=x in FILE:3`);
    await refuses(`resolver 127.0.0.1:99999;`, `invalid port in resolver "127.0.0.1:99999" in FILE:3`);
    await refuses(`resolver 127.0.0.1:0;`, `invalid port in resolver "127.0.0.1:0" in FILE:3`);
    await refuses(`resolver 127.0.0.1:x;`, `invalid port in resolver "127.0.0.1:x" in FILE:3`);
    await refuses(`resolver no.such.host.invalid;`, `host not found in resolver "no.such.host.invalid" in FILE:3`);
    await refuses(`resolver;`, `invalid number of arguments in "resolver" directive in FILE:3`);
    await refuses(`resolver 127.0.0.1; resolver 127.0.0.2;`, `"resolver" directive is duplicate in FILE:3`);
    await refuses(`resolver valid=1s;`, `no name servers defined in FILE:3`);
    await refuses(`resolver 127.0.0.1 ipv6=of;`, `invalid parameter: ipv6=of in FILE:3`);
    await refuses(`resolver_timeout x;`, `"resolver_timeout" directive invalid value in FILE:3`);
    await refuses(`resolver_timeout 5s; resolver_timeout 6s;`, `"resolver_timeout" directive is duplicate in FILE:3`);
    // nginx 1.23.1+ (ipv4=), wsgate's own refusal (status_zone= is NGINX Plus's).
    await refuses(`resolver 127.0.0.1 ipv4=off ipv6=off;`, `"ipv4" and "ipv6" cannot both be "off" in FILE:3`, false);
    await refuses(
      `resolver 127.0.0.1 status_zone=z;`,
      `the "status_zone" parameter of "resolver" is not supported by wsgate in FILE:3`,
      false,
    );
  });

  test("zone: accepted, and refused as nginx refuses it", async () => {
    const config = await accepts(
      `upstream u { server 127.0.0.1:1; zone z 64k; } upstream v { server 127.0.0.1:2; zone z; }
       server { listen 127.0.0.1:18080; location / { proxy_pass http://u; } }`,
    );
    assert.deepEqual(config.http!.upstreams.get("u")!.zone, { name: "z", size: 65536 });
    await refuses(`upstream u { server 127.0.0.1; zone z 1k; }`, `zone "z" is too small in FILE:3`);
    await refuses(`upstream u { server 127.0.0.1; zone z x; }`, `invalid zone size "x" in FILE:3`);
    await refuses(`upstream u { server 127.0.0.1; zone "" 64k; }`, `invalid zone name "" in FILE:3`);
    await refuses(
      `upstream u { server 127.0.0.1; zone z 64k 1; }`,
      `invalid number of arguments in "zone" directive in FILE:3`,
    );
    await refuses(
      `upstream u { server 127.0.0.1; zone z 64k; } upstream v { server 127.0.0.1; zone z 128k; }`,
      `the size 131072 of shared memory zone "z" conflicts with already declared size 65536 in FILE:3`,
    );
    await refuses(`zone z 64k;`, `"zone" directive is not allowed here in FILE:3`);
  });

  test("server … resolve needs a zone and a resolver (nginx 1.28's texts)", async () => {
    await refuses(
      `upstream u {\n server chat.test:8080 resolve;\n}`,
      `resolving names at run time requires upstream "u" in FILE:3 to be in shared memory`,
      false,
    );
    await refuses(
      `upstream u {\n zone u 64k;\n server chat.test:8080 resolve;\n}`,
      `no resolver defined to resolve names at run time in upstream "u" in FILE:3`,
      false,
    );
    await refuses(
      `resolver 127.0.0.1;\nupstream u { zone u 64k; server chat.test:x resolve; }`,
      `invalid port in upstream "chat.test:x" in FILE:4`,
      false,
    );
    await refuses(
      `resolver 127.0.0.1;\nupstream u { zone u 64k; server chat.test service=http resolve; }`,
      `the "service" parameter of "server" is not supported by wsgate in FILE:4`,
      false,
    );
    // The http block's resolver or the group's own; an address with resolve is simply static; the name is not looked up now.
    const config = await accepts(
      `resolver 127.0.0.1 valid=5s;\nupstream u { zone u 64k; server chat.test:8080 resolve; server 127.0.0.1:1 resolve; }
       upstream v { zone v 64k; resolver 127.0.0.2; resolver_timeout 2s; server chat.test resolve; }`,
      false,
    );
    const u = config.http!.upstreams.get("u")!;
    assert.deepEqual(u.servers[0]!.addresses, []);
    assert.equal(u.servers[0]!.resolve, true);
    assert.deepEqual(
      u.servers[1]!.addresses.map((a) => a.text),
      ["127.0.0.1:1"],
    );
    assert.equal(u.resolver?.validMs, 5000);
    assert.equal(u.resolverTimeoutMs, 30_000);
    const v = config.http!.upstreams.get("v")!;
    assert.deepEqual(v.resolver?.servers, [{ host: "127.0.0.2", port: 53 }]);
    assert.equal(v.resolverTimeoutMs, 2000);
    // An address with `resolve` needs neither zone nor resolver (nothing to resolve).
    const { error } = await load(`upstream u { server 127.0.0.1 resolve; }`);
    assert.equal(error, undefined);
  });
});

const WS_LOCATION = `
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";`;

describe("server … resolve at run time", () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  let dns: DnsServer;
  before(async () => {
    dns = await startDnsServer();
  });
  after(async () => {
    for (const step of cleanup.reverse()) await step();
    await dns.close();
  });

  async function backendAt(name: string, host: string, port: number): Promise<NamedBackend> {
    const backend = await startBackend(name, port, host);
    cleanup.push(() => backend.close());
    return backend;
  }

  async function gate(http: string): Promise<WsgateProcess> {
    const started = await startWsgate({ conf: httpConf(http) });
    cleanup.push(() => started.stop());
    return started;
  }

  test("backends found, a scaled-out one appears after the TTL, a removed one keeps its open tunnel", async () => {
    const backendPort = await freePort();
    const a = await backendAt("a", "127.0.0.2", backendPort);
    const b = await backendAt("b", "127.0.0.3", backendPort);
    dns.set("chat.test", { kind: "a", addresses: ["127.0.0.2"], ttl: 1 });
    const port = await freePort();
    const wsgate = await gate(`
      resolver 127.0.0.1:${dns.port} ipv6=off;
      upstream chat { zone chat 64k; server chat.test:${backendPort} resolve; }
      server { listen 127.0.0.1:${port}; location / { proxy_pass http://chat; ${WS_LOCATION} } }`);
    // Found before wsgate took its first connection: the very first request reaches a.
    assert.equal((await fetchVia(port, "/")).body, "a");
    const tunnel = await openSocket(port);
    assert.equal(await echo(tunnel, "hello"), "a: hello");

    // Scaled out: b is added to the name and gets requests once the 1 s TTL has passed.
    dns.set("chat.test", { kind: "a", addresses: ["127.0.0.2", "127.0.0.3"], ttl: 1 });
    await until(async () => (await fetchVia(port, "/")).body === "b", 5000, "b to appear");
    const bodies = [];
    for (let i = 0; i < 4; i++) bodies.push((await fetchVia(port, "/")).body);
    assert.deepEqual(bodies.sort(), ["a", "a", "b", "b"]);

    // a is taken out: no new connections to it, its open tunnel still echoes.
    dns.set("chat.test", { kind: "a", addresses: ["127.0.0.3"], ttl: 1 });
    await until(
      async () => {
        const seen = await Promise.all([0, 1, 2, 3].map(() => fetchVia(port, "/")));
        return seen.every((reply) => reply.body === "b");
      },
      5000,
      "a to be taken out",
    );
    const aRequests = a.seen.length;
    for (let i = 0; i < 4; i++) assert.equal((await fetchVia(port, "/")).body, "b");
    assert.equal(a.seen.length, aRequests);
    assert.equal(await echo(tunnel, "still there"), "a: still there");
    const fresh = await openSocket(port);
    assert.equal(await echo(fresh, "new"), "b: new");
    await closeSocket(fresh);
    await closeSocket(tunnel);
    assert.ok(dns.queries("chat.test") >= 3);
    assert.doesNotMatch(wsgate.errorLog(), /could not be resolved/);
    assert.ok(b.connections > 0);
  });

  test("a failed lookup is logged as nginx logs it and keeps the addresses; NXDOMAIN empties the server", async () => {
    const backendPort = await freePort();
    await backendAt("c", "127.0.0.4", backendPort);
    dns.set("keep.test", { kind: "a", addresses: ["127.0.0.4"], ttl: 1 });
    const port = await freePort();
    const wsgate = await gate(`
      resolver 127.0.0.1:${dns.port} valid=1s;
      resolver_timeout 1s;
      upstream keep { zone keep 64k; server keep.test:${backendPort} resolve; }
      server { listen 127.0.0.1:${port}; location / { proxy_pass http://keep; } }`);
    await until(async () => (await fetchVia(port, "/")).body === "c", 5000, "keep.test resolved");

    dns.set("keep.test", { kind: "servfail" });
    await until(
      () => /keep\.test could not be resolved \(2: Server failure\)/.test(wsgate.errorLog()),
      5000,
      "the server failure to be logged",
    );
    assert.equal((await fetchVia(port, "/")).body, "c");

    dns.set("keep.test", { kind: "drop" });
    await until(
      () => /keep\.test could not be resolved \(110: Operation timed out\)/.test(wsgate.errorLog()),
      6000,
      "the timeout to be logged",
    );
    assert.equal((await fetchVia(port, "/")).body, "c");
    assert.match(wsgate.errorLog(), /\[error\] \d+#\d+: keep\.test could not be resolved \(2: Server failure\)\n/);

    // The name is gone (NXDOMAIN): nginx drops the server's addresses; nothing is left to send to.
    dns.set("keep.test", { kind: "nxdomain" });
    await until(async () => (await fetchVia(port, "/")).status === 502, 6000, "the name to be gone");
    assert.match(wsgate.errorLog(), /keep\.test could not be resolved \(3: Host not found\)/);
    assert.match(wsgate.errorLog(), /no live upstreams while connecting to upstream/);
    // And it comes back.
    dns.set("keep.test", { kind: "a", addresses: ["127.0.0.4"], ttl: 1 });
    await until(async () => (await fetchVia(port, "/")).body === "c", 5000, "keep.test back");
  });

  test("proxy_pass with a host name in a variable is resolved through the resolver, answers cached by TTL", async () => {
    const backendPort = await freePort();
    await backendAt("d", "127.0.0.5", backendPort);
    dns.set("var.test", { kind: "a", addresses: ["127.0.0.5"], ttl: 2 });
    const port = await freePort();
    const wsgate = await gate(`
      log_format up '$request_uri $upstream_addr $status';
      server {
        listen 127.0.0.1:${port};
        access_log logs/up.log up;
        location /r/ { resolver 127.0.0.1:${dns.port} ipv6=off; proxy_pass http://$arg_h:${backendPort}; }
        location /n/ { proxy_pass http://$arg_h:${backendPort}; }
      }`);
    const before = dns.queries("var.test");
    assert.equal((await fetchVia(port, "/r/1?h=var.test")).body, "d");
    assert.equal((await fetchVia(port, "/r/2?h=var.test")).body, "d");
    assert.equal(dns.queries("var.test") - before, 1, "the second request uses the cached answer");
    await until(
      async () => (await fetchVia(port, "/r/3?h=var.test")).body === "d" && dns.queries("var.test") - before === 2,
      5000,
      "a new query after the TTL",
    );

    const missing = await fetchVia(port, "/r/4?h=missing.test");
    assert.equal(missing.status, 502);
    assert.match(
      wsgate.errorLog(),
      /\[error\] \d+#\d+: \*\d+ missing\.test could not be resolved \(3: Host not found\), client: 127\.0\.0\.1, server: , request: "GET \/r\/4\?h=missing\.test HTTP\/1\.1", host: "127\.0\.0\.1:\d+"/,
    );
    // Without a resolver: nginx's "no resolver defined to resolve" 502, as before.
    assert.equal((await fetchVia(port, "/n/1?h=var.test")).status, 502);
    assert.match(wsgate.errorLog(), /no resolver defined to resolve var\.test/);
    await until(() => wsgate.accessLog("up.log").includes("/r/1?h=var.test"), 2000, "the access log");
    assert.match(wsgate.accessLog("up.log"), new RegExp(`/r/1\\?h=var\\.test 127\\.0\\.0\\.5:${backendPort} 200`));
  });
});
