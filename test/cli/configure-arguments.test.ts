/**
 * `wsgate -V`'s configure arguments against the directive table, both ways:
 * a module listed as present has its directives in the table, and every
 * module the table implements is listed as present (nginx's `-V` shape kept).
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { DIRECTIVES } from "../../src/config/directives.js";
import { MODULES } from "../../src/config/modules/index.js";
import { NGINX_HTTP_MODULES, implemented, moduleSwitches } from "../../src/config/configure-arguments.js";
import { lines, runCli } from "./run-cli.js";

/** The configure arguments `wsgate -V` prints, as a set of switches. */
async function switchesOfV(): Promise<{ out: string[]; switches: Set<string> }> {
  const result = await runCli(["-V"]);
  assert.equal(result.code, 0, result.stderr);
  const out = lines(result.stderr);
  const configure = out.find((line) => line.startsWith("configure arguments: "));
  assert.ok(configure, result.stderr);
  return { out, switches: new Set(configure.slice("configure arguments: ".length).split(" ")) };
}

/** Whether -V's switches say nginx would have this module. */
function listedPresent(switches: Set<string>, flag: string, builtByDefault: boolean): boolean {
  return builtByDefault ? !switches.has(`--without-${flag}`) : switches.has(`--with-${flag}`);
}

describe("-V from the directive table", () => {
  test("nginx's shape: version, built with, TLS SNI, configure arguments", async () => {
    const { out } = await switchesOfV();
    assert.equal(out[0], "nginx version: nginx/1.28.0");
    assert.ok(out.includes("TLS SNI support enabled"), out.join("\n"));
    assert.ok(
      out.some((line) => /^built with OpenSSL \S+/.test(line)),
      out.join("\n"),
    );
    assert.match(out.at(-1) ?? "", /^configure arguments: --prefix=\S+/);
  });

  test("a module listed as present has its directives in the table; one listed absent lacks some", async () => {
    const { switches } = await switchesOfV();
    for (const module of NGINX_HTTP_MODULES) {
      const missing = module.proof.filter((name) => !DIRECTIVES.has(name));
      const present = listedPresent(switches, module.flag, module.builtByDefault);
      assert.equal(present, missing.length === 0, `${module.flag}: listed ${present}, missing ${missing.join(", ")}`);
    }
  });

  test("every nginx module wsgate's configuration modules implement is listed as present", async () => {
    const { switches } = await switchesOfV();
    // The configuration modules named after nginx's (ngx_http_rewrite_module …) that -V can name.
    const flags = new Set(NGINX_HTTP_MODULES.map((module) => module.flag));
    const own = MODULES.map((module) => /^ngx_(http_\w+_module)$/.exec(module.name)?.[1]).filter(
      (flag): flag is string => flag !== undefined && flags.has(flag),
    );
    assert.ok(own.includes("http_rewrite_module") && own.includes("http_ssl_module"), own.join(" "));
    for (const flag of own) {
      const module = NGINX_HTTP_MODULES.find((entry) => entry.flag === flag);
      assert.ok(module && listedPresent(switches, flag, module.builtByDefault), `${flag} is listed as present`);
    }
    // The upstream balancers and stub_status live inside larger configuration modules: their rows prove them.
    for (const flag of [
      "http_upstream_hash_module",
      "http_upstream_ip_hash_module",
      "http_upstream_least_conn_module",
      "http_upstream_keepalive_module",
      "http_upstream_zone_module",
      "http_stub_status_module",
      "http_access_module",
    ]) {
      const module = NGINX_HTTP_MODULES.find((entry) => entry.flag === flag);
      assert.ok(module && listedPresent(switches, flag, module.builtByDefault), `${flag} is listed as present`);
    }
  });

  test("a directive added to the table changes the switches (computed, not kept by hand)", () => {
    const gzip = NGINX_HTTP_MODULES.find((module) => module.flag === "http_gzip_module");
    assert.ok(gzip);
    const withGzip = new Map<string, unknown>(DIRECTIVES);
    for (const name of gzip.proof) withGzip.set(name, []);
    assert.equal(implemented(gzip, withGzip), true);
    assert.ok(!moduleSwitches(withGzip).includes("--without-http_gzip_module"));
    const withoutRewrite = new Map<string, unknown>(DIRECTIVES);
    withoutRewrite.delete("rewrite");
    assert.ok(moduleSwitches(withoutRewrite).includes("--without-http_rewrite_module"));
  });

  test("wsgate's own modules as nginx's third-party ones: every wsgate_ directive is behind one --add-module", async () => {
    const { switches } = await switchesOfV();
    const added = [...switches].filter((s) => s.startsWith("--add-module=wsgate/")).map((s) => s.slice(20));
    for (const module of MODULES) {
      for (const directive of module.directives) {
        if (!directive.name.startsWith("wsgate_")) continue;
        assert.ok(
          added.includes(module.name) || added.includes(directive.name),
          `${directive.name} (${module.name}) in -V: ${added.join(" ")}`,
        );
      }
    }
    for (const name of ["wsgate_metrics", "wsgate_dashboard", "wsgate_upstream_status", "wsgate_websocket"])
      assert.ok(added.includes(name), name);
  });
});
