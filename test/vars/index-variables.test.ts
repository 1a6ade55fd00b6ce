/**
 * Every variable of nginx's variable index (nginx.org/en/docs/varindex.html)
 * that belongs to a module wsgate has is known to wsgate; the list is kept
 * here by module, and checked against Debian's nginx where it is installed
 * (so that it names only real variables). Families ($http_NAME …) are
 * checked with a name of the family.
 *
 * Left to other parts: $limit_rate (limit_rate), $gzip_ratio (gzip),
 * $realip_remote_* and $proxy_protocol_* (realip, PROXY protocol). Not
 * listed: the modules wsgate does not have (browser's $msie and
 * $modern_browser, geo, geoip, fastcgi, uwsgi, scgi, grpc, memcached, ssi's
 * $date_local/$date_gmt, secure_link, userid, referer, slice, split_clients,
 * auth_request, mirror …) and commercial ones ($upstream_queue_time).
 */

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { VariableRegistry } from "../../src/vars/registry.js";
import { binaryAddress, registerHttpVariables } from "../../src/vars/http-variables.js";
import { nginxPath } from "../differential/peers.js";
import { fakeSource, upstreamTry } from "./fake-source.js";

const INDEX: Readonly<Record<string, readonly string[]>> = {
  ngx_http_core_module: [
    "arg_name",
    "args",
    "binary_remote_addr",
    "body_bytes_sent",
    "bytes_sent",
    "connection",
    "connection_requests",
    "connection_time",
    "content_length",
    "content_type",
    "cookie_name",
    "document_root",
    "document_uri",
    "host",
    "hostname",
    "http_name",
    "https",
    "is_args",
    "msec",
    "nginx_version",
    "pid",
    "pipe",
    "query_string",
    "realpath_root",
    "remote_addr",
    "remote_port",
    "remote_user",
    "request",
    "request_body",
    "request_body_file",
    "request_completion",
    "request_filename",
    "request_id",
    "request_length",
    "request_method",
    "request_time",
    "request_uri",
    "scheme",
    "sent_http_name",
    "sent_trailer_name",
    "server_addr",
    "server_name",
    "server_port",
    "server_protocol",
    "status",
    "tcpinfo_rtt",
    "tcpinfo_rttvar",
    "tcpinfo_snd_cwnd",
    "tcpinfo_rcv_space",
    "time_iso8601",
    "time_local",
    "uri",
  ],
  ngx_http_log_module: [
    "bytes_sent",
    "connection",
    "connection_requests",
    "msec",
    "pipe",
    "request_length",
    "request_time",
    "status",
    "time_iso8601",
    "time_local",
  ],
  ngx_http_proxy_module: ["proxy_add_x_forwarded_for", "proxy_host", "proxy_port"],
  ngx_http_upstream_module: [
    "upstream_addr",
    "upstream_bytes_received",
    "upstream_bytes_sent",
    "upstream_cache_status",
    "upstream_connect_time",
    "upstream_cookie_name",
    "upstream_header_time",
    "upstream_http_name",
    "upstream_response_length",
    "upstream_response_time",
    "upstream_status",
    "upstream_trailer_name",
  ],
  ngx_http_ssl_module: [
    "ssl_alpn_protocol",
    "ssl_cipher",
    "ssl_ciphers",
    "ssl_client_cert",
    "ssl_client_escaped_cert",
    "ssl_client_fingerprint",
    "ssl_client_i_dn",
    "ssl_client_i_dn_legacy",
    "ssl_client_raw_cert",
    "ssl_client_s_dn",
    "ssl_client_s_dn_legacy",
    "ssl_client_serial",
    "ssl_client_v_end",
    "ssl_client_v_remain",
    "ssl_client_v_start",
    "ssl_client_verify",
    "ssl_curve",
    "ssl_curves",
    "ssl_early_data",
    "ssl_protocol",
    "ssl_server_name",
    "ssl_session_id",
    "ssl_session_reused",
  ],
  ngx_http_stub_status_module: [
    "connections_active",
    "connections_reading",
    "connections_waiting",
    "connections_writing",
  ],
};

const ALL = [...new Set(Object.values(INDEX).flat())];

describe("nginx's variable index, for the modules wsgate has", () => {
  test("wsgate knows every one", () => {
    const registry = new VariableRegistry();
    registerHttpVariables(registry);
    const unknown = ALL.filter((name) => {
      const one = new VariableRegistry();
      registerHttpVariables(one);
      one.indexOf(name);
      try {
        one.link();
        return false;
      } catch {
        return true;
      }
    });
    assert.deepEqual(unknown, []);
  });

  test("the list names real variables: Debian's nginx accepts them all", (t) => {
    const nginx = nginxPath();
    if (!nginx) return t.skip("nginx is not installed");
    const prefix = mkdtempSync(join(tmpdir(), "wsgate-varindex-"));
    try {
      const format = ALL.map((name) => `$${name}`).join(" ");
      writeFileSync(join(prefix, "nginx.conf"), `events {}\nhttp { log_format all '${format}'; }\n`);
      const run = spawnSync(nginx, ["-t", "-q", "-e", "stderr", "-p", prefix + "/", "-c", join(prefix, "nginx.conf")], {
        encoding: "latin1",
        timeout: 20_000,
      });
      assert.equal(
        run.stderr.split("\n").find((line) => line.includes("[emerg]")),
        undefined,
      );
    } finally {
      rmSync(prefix, { recursive: true, force: true });
    }
  });

  test("a name outside the index is still unknown", () => {
    const registry = new VariableRegistry();
    registerHttpVariables(registry);
    registry.indexOf("upstream_queue_time");
    assert.throws(() => registry.link(), /unknown "upstream_queue_time" variable/);
  });
});

describe("values of the new variables", () => {
  function read(name: string, overrides: Parameters<typeof fakeSource>[0] = {}): string | undefined {
    const registry = new VariableRegistry();
    registerHttpVariables(registry);
    const index = registry.indexOf(name);
    registry.link();
    return registry.lookup(fakeSource(overrides), index);
  }

  test("$binary_remote_addr: 4 or 16 bytes; a unix client's text as it is", () => {
    assert.equal(binaryAddress("10.1.2.3"), "\x0a\x01\x02\x03");
    assert.equal(Buffer.from(binaryAddress("::1"), "latin1").toString("hex"), "0".repeat(31) + "1");
    assert.equal(
      Buffer.from(binaryAddress("2001:db8::ffff:1.2.3.4"), "latin1").toString("hex"),
      "20010db8000000000000ffff01020304",
    );
    assert.equal(binaryAddress("unix:"), "unix:");
  });

  test("$pipe: p for a pipelined request, . otherwise", () => {
    assert.equal(read("pipe", { pipelined: true }), "p");
    assert.equal(read("pipe"), ".");
  });

  test("$request_body: the body read into memory; not found in a file or unread", () => {
    const memory = [Buffer.from("a=1"), Buffer.from("&b=2")];
    assert.equal(read("request_body", { requestBody: { memory } }), "a=1&b=2");
    assert.equal(read("request_body", { requestBody: { file: "/t/0000000001" } }), undefined);
    assert.equal(read("request_body_file", { requestBody: { file: "/t/0000000001" } }), "/t/0000000001");
    assert.equal(read("request_body"), undefined);
  });

  test("$upstream_response_length and $upstream_cookie_NAME: per try, and the last try's Set-Cookie", () => {
    const first = upstreamTry({ addr: "10.0.0.1:80", status: 502 });
    const last = {
      ...upstreamTry({ addr: "10.0.0.2:80" }),
      status: 200,
      responseLength: 12,
      responseHeaders: [
        ["Set-Cookie", "a=1; Path=/"],
        ["set-cookie", "SID =  x y ;Secure"],
      ] as const,
    };
    assert.equal(read("upstream_response_length", { upstreamTries: [first, last] }), "0, 12");
    assert.equal(read("upstream_cookie_sid", { upstreamTries: [first, last] }), "x y ");
    assert.equal(read("upstream_cookie_path", { upstreamTries: [first, last] }), undefined);
    assert.equal(read("upstream_cookie_a"), undefined);
  });

  test("$proxy_port: found even empty (a unix socket); not found before proxy_pass", () => {
    assert.equal(read("proxy_port", { proxyPort: "8080" }), "8080");
    assert.equal(read("proxy_port", { proxyPort: "" }), "");
    assert.equal(read("proxy_port"), undefined);
  });

  test("$ssl_client_verify: NONE on TLS without a client certificate; the $ssl_* not found on plain HTTP", () => {
    const tls = { protocol: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256", serverName: "", sessionReused: false };
    assert.equal(read("ssl_client_verify", { tls: { ...tls, alpnProtocol: "" } }), "NONE");
    assert.equal(read("ssl_client_s_dn", { tls: { ...tls, alpnProtocol: "" } }), undefined);
    assert.equal(read("ssl_client_verify"), undefined);
  });

  test("$tcpinfo_*: not found (Node cannot read TCP_INFO)", () => {
    assert.equal(read("tcpinfo_rtt"), undefined);
  });

  test("$request_completion: OK unless the request was cut short (444, 408, 499)", () => {
    assert.equal(read("request_completion", { status: 200 }), "OK");
    assert.equal(read("request_completion", { status: 499 }), "");
  });
});
