/**
 * Virtual-server choice for a host: exact name, then the longest leading
 * wildcard, then the longest trailing one, then regexes in order, else the
 * default server.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { indexServers, selectServer } from "../../src/http/select-server.js";
import type { LocConf, ServerConf, SrvConf } from "../../src/config/model.js";
import { loadConfig } from "../../src/config/load.js";
import { makeTempDir, removeTempDir, writeTree } from "../support/config-files.js";

function server(...names: string[]): ServerConf {
  return {
    listens: [],
    names,
    srv: {} as SrvConf,
    loc: {} as LocConf,
    locations: [],
    place: { file: "test.conf", line: 1 },
  };
}

/** Which server (by its first name) a host selects among `servers`; the first is the default. */
function chooser(...servers: ServerConf[]): (host: string) => string | undefined {
  const index = indexServers(servers, servers[0]!);
  return (host) => selectServer(index, host).server.names[0];
}

describe("selectServer", () => {
  test("an exact name; no match and no host go to the default server", () => {
    const pick = chooser(server("default.test"), server("a.test", "alias.test"), server("b.test"));
    assert.equal(pick("a.test"), "a.test");
    assert.equal(pick("alias.test"), "a.test");
    assert.equal(pick("b.test"), "b.test");
    assert.equal(pick("c.test"), "default.test");
    assert.equal(pick(""), "default.test");
  });

  test("the first server to list a name keeps it", () => {
    const pick = chooser(server("default.test"), server("first", "same.test"), server("second", "same.test"));
    assert.equal(pick("same.test"), "first");
  });

  test("*.example.com matches any depth below, not example.com itself", () => {
    const pick = chooser(server("default.test"), server("*.example.com"));
    assert.equal(pick("a.example.com"), "*.example.com");
    assert.equal(pick("a.b.example.com"), "*.example.com");
    assert.equal(pick("example.com"), "default.test");
    assert.equal(pick("badexample.com"), "default.test");
  });

  test(".example.com matches example.com and every name below it", () => {
    const pick = chooser(server("default.test"), server(".example.com"));
    assert.equal(pick("example.com"), ".example.com");
    assert.equal(pick("www.example.com"), ".example.com");
  });

  test("an exact name beats a wildcard; the longest leading wildcard wins", () => {
    const pick = chooser(
      server("default.test"),
      server("*.example.com"),
      server("*.deep.example.com"),
      server("www.deep.example.com"),
    );
    assert.equal(pick("x.deep.example.com"), "*.deep.example.com");
    assert.equal(pick("x.other.example.com"), "*.example.com");
    assert.equal(pick("www.deep.example.com"), "www.deep.example.com");
  });

  test("trailing wildcards, longest first, after every leading one", () => {
    const pick = chooser(server("default.test"), server("www.*"), server("www.example.*"), server("*.example.com"));
    assert.equal(pick("www.example.org"), "www.example.*");
    assert.equal(pick("www.other.org"), "www.*");
    assert.equal(pick("www.example.com"), "*.example.com", "a leading wildcard beats a trailing one");
  });

  test("regexes come last, in the order written, with their captures", () => {
    const pick = chooser(
      server("default.test"),
      server("~^(?<sub>[a-z]+)\\.re\\.test$"),
      server("~^www\\."),
      server("exact.re.test"),
    );
    assert.equal(pick("exact.re.test"), "exact.re.test");
    assert.equal(pick("www.re.test"), "~^(?<sub>[a-z]+)\\.re\\.test$");
    assert.equal(pick("www.other.test"), "~^www\\.");
    const index = indexServers([server("~^(?P<sub>[a-z]+)\\.(re)\\.test$")], server("default.test"));
    assert.deepEqual(selectServer(index, "abc.re.test").captures, ["abc.re.test", "abc", "re"]);
    assert.equal(selectServer(index, "abc.re.test.x").captures, undefined);
  });

  test("a regex with an upper-case letter matches without case, as nginx compiles it", () => {
    const pick = chooser(server("default.test"), server("~^WWW\\.re\\.test$"));
    assert.equal(pick("www.re.test"), "~^WWW\\.re\\.test$");
  });
});

describe("server_name regexes from a configuration", () => {
  let root: string;
  before(() => {
    root = makeTempDir("select-server");
  });
  after(() => {
    removeTempDir(root);
  });

  test("the regex is kept as written: \\D stays \\D (a non-digit)", async () => {
    writeTree(root, {
      "conf/nginx.conf": [
        "events {}",
        "http {",
        "    server { listen 127.0.0.1:8080; server_name Default.Test; }",
        "    server { listen 127.0.0.1:8080; server_name ~^\\D+\\.test$; }",
        "}",
        "",
      ].join("\n"),
    });
    const config = await loadConfig({ prefix: root, confFile: join(root, "conf/nginx.conf") });
    const servers = config.http!.servers;
    assert.deepEqual(servers[0]!.names, ["default.test"], "plain names are lower-cased");
    const index = indexServers(servers, servers[0]!);
    assert.equal(selectServer(index, "abc.test").server, servers[1]);
    assert.equal(selectServer(index, "123.test").server, servers[0]);
  });
});
