/**
 * The rewrite module, add_header, error_page and proxy_redirect under
 * Debian's nginx and under wsgate: one configuration, the same raw requests,
 * and for each the status line, the headers (Date and Server aside), the
 * body, and what the backend received must be the same; then the access-log
 * lines and the rewrite_log / error-log lines.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { comparableLog, skipWithoutNginx, startPeer, type Peer } from "../differential/peers.js";
import { exchange, linesEventually } from "../support/sockets.js";
import { startScriptedBackend, type ScriptedBackend } from "./backend.js";

const skip = skipWithoutNginx();

const B = "http://127.0.0.1:BACKEND";

const CONFIG = `
  server {
    listen 127.0.0.1:PORT;
    server_name example.test;
    rewrite_log on;
    add_header X-Server-Level yes;
    rewrite ^/old/(.*)$ /new/$1 last;
    if ($http_x_maintenance) { return 503 "down for maintenance\\n"; }
    set $from_server srv;
    error_page 404 /errors/404;

    location = /errors/404 { return 200 "custom page for $request_uri, status $status\\n"; }
    location /new/ { return 200 "new uri=$uri args=$args from=$from_server\\n"; }

    location /ret/200 { return 200; }
    location /ret/text.html { return 200 "hi $uri\\n"; }
    location /ret/text { default_type application/json; return 200 '{"uri":"$uri"}'; }
    location /ret/302 { return 302; }
    location /ret/301 { return 301 /moved/$arg_to; }
    location /ret/301abs { return 301 http://elsewhere.test/x; }
    location /ret/url { return http://elsewhere.test$uri; }
    location /ret/404 { return 404; }
    location /ret/404text { return 404 "nothing here\\n"; }
    location /ret/418 { return 418; }
    location /ret/204 { return 204; }
    location /ret/444 { return 444; }
    location /ret/307 { absolute_redirect off; return 307 /rel; }
    location /ret/308 { server_name_in_redirect on; port_in_redirect off; return 308 /named; }

    location /rw/args { rewrite ^/rw/args/(.*)$ /new/$1?p=1; }
    location /rw/drop { rewrite ^/rw/drop/(.*)$ /new/$1?; }
    location /rw/chain { rewrite ^/rw/chain/(.*)$ /new/$1; rewrite ^/new/(.*)$ /new/again-$1 last; return 200 "not reached\\n"; }
    location /rw/redirect { rewrite ^/rw/redirect/(.*)$ /r/$1?p=1 redirect; }
    location /rw/permanent { rewrite ^/rw/permanent/(.*)$ /r/$1 permanent; }
    location /rw/url { rewrite ^/rw/url/(.*)$ https://elsewhere.test/$1; }
    location /rw/break { rewrite ^/rw/break/(.*)$ /$1?p=1 break; proxy_pass ${B}; }
    location /rw/breakuri/ { rewrite ^/rw/breakuri/(.*)$ /b/$1 break; proxy_pass ${B}/up/; }
    location /rw/lastpass/ { rewrite ^/rw/lastpass/(.*)$ /pass/$1 last; }
    location /pass/ { proxy_pass ${B}/passed/; }
    location /rw/named { rewrite ^/rw/named/(?<tail>.*)$ /new/$tail last; }
    location /rw/loop { rewrite ^ /rw/loop2 last; }
    location /rw/loop2 { rewrite ^ /rw/loop last; }
    location /rw/nowhere { rewrite ^ /nowhere last; }
    location /rw/escaped { rewrite ^/rw/escaped/(.*)$ /e/$1 break; proxy_pass ${B}; }
    location ~ ^/cap/(\\w+) { return 200 "capture $1\\n"; }

    location /if/eq { if ($arg_x = yes) { return 200 "x is yes\\n"; } if ($arg_x != "") { return 200 "x=$arg_x\\n"; } return 200 "no x\\n"; }
    location /if/re { if ($http_user_agent ~* ^(curl|wget)/([0-9.]+)) { return 200 "tool $1 v$2\\n"; } if ($uri !~ ^/if/re/ok) { return 403; } return 200 "ok\\n"; }
    location /if/headers { if ($arg_z) { add_header X-If yes; } add_header X-Loc yes; return 200 "if\\n"; }
    location /if/proxy { if ($arg_up) { proxy_pass ${B}; } return 200 "no proxy\\n"; }
    location /if/zero { if ($arg_v) { return 200 "true\\n"; } return 200 "false\\n"; }
    location /if/file { if (-d /tmp) { return 200 "dir\\n"; } return 500; }
    location /if/nofile { if (!-f /nonexistent/file) { return 200 "no file\\n"; } return 500; }

    location /set { set $a "A-$uri"; set $b $a-B; return 200 "$a $b [$late]\\n"; }
    location /late { set $late late; return 200; }

    location /ep/equal { error_page 404 = /errors/404; return 404; }
    location /ep/code { error_page 404 =299 /errors/404?x=1; return 404; }
    location /ep/named { error_page 502 @fallback; proxy_pass http://127.0.0.1:1; }
    location @fallback { return 200 "named fallback for $uri\\n"; }
    location /ep/url { error_page 404 http://elsewhere.test/missing; return 404; }
    location /ep/url301 { error_page 404 =301 http://elsewhere.test/missing; return 404; }
    location /ep/self { error_page 500 /ep/self; return 500; }
    location /ep/chain { error_page 404 /ep/chained; return 404; }
    location /ep/rchain { recursive_error_pages on; error_page 404 /ep/chained; return 404; }
    location = /ep/chained { error_page 404 /errors/404; return 404; }
    location /ep/intercept { proxy_intercept_errors on; error_page 500 503 /errors/404; proxy_pass ${B}; }
    location /ep/toproxy { proxy_intercept_errors on; error_page 404 = /pass/st/201; proxy_pass ${B}; }
    location /ep/big { client_max_body_size 1; error_page 413 /errors/413; proxy_pass ${B}; }
    location = /errors/413 { return 200 "too large, status $status, method $request_method\n"; }
    location /ep/nointercept { error_page 500 /errors/404; proxy_pass ${B}; }

    location /hdr/ { add_header X-A a; add_header X-B "$uri" always; add_header X-Empty "$arg_none"; return 200 "ok\\n"; }
    location /hdr/404 { add_header X-A a; add_header X-B b always; return 404; }
    location /hdr/301 { add_header X-A a; return 301 /x; }
    location /hdr/proxy { add_header X-A a; proxy_pass ${B}; }
    location /hdr/inherit { return 200 "inherits the server's\\n"; }

    location /pr/default/ { proxy_pass ${B}/up/; }
    location /pr/nouri/ { proxy_pass ${B}; }
    location /pr/off/ { proxy_redirect off; proxy_pass ${B}/up/; }
    location /pr/text/ { proxy_pass ${B}/up/; proxy_redirect ${B}/up/ /text/; proxy_redirect /up/ http://$host/u/; }
    location /pr/regex/ { proxy_pass ${B}; proxy_redirect ~*^HTTP://127\\.0\\.0\\.1:\\d+/(.*)$ /re/$1; }
    location /pr/relative/ { absolute_redirect off; proxy_pass ${B}/up/; }
  }`;

function enc(header: string): string {
  return "h=" + encodeURIComponent(header);
}

const BACK = "http://127.0.0.1:BACKEND";

/** [what it shows, raw request]. Each closes its connection. */
const REQUESTS: ReadonlyArray<readonly [string, string]> = [
  ["server rewrite … last", "GET /old/a?q=1 HTTP/1.0\r\n\r\n"],
  ["server if: maintenance page", "GET /anything HTTP/1.0\r\nX-Maintenance: 1\r\n\r\n"],
  ["error_page 404 for an unknown location", "GET /unknown?a=1 HTTP/1.0\r\n\r\n"],
  [
    "return 200 (no text), keep-alive HTTP/1.1",
    "GET /ret/200 HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n",
  ],
  ["return text typed by the extension", "GET /ret/text.html?x HTTP/1.0\r\n\r\n"],
  ["return text with default_type", "GET /ret/text HTTP/1.0\r\n\r\n"],
  ["HEAD of a return text", "HEAD /ret/text HTTP/1.0\r\n\r\n"],
  ["return 302 without a URL", "GET /ret/302 HTTP/1.0\r\n\r\n"],
  ["return 301 relative, made absolute with the Host", "GET /ret/301?to=there HTTP/1.0\r\nHost: h.test:99\r\n\r\n"],
  ["return 301 relative without a Host", "GET /ret/301 HTTP/1.0\r\n\r\n"],
  ["return 301 absolute", "GET /ret/301abs HTTP/1.0\r\n\r\n"],
  ["return URL", "GET /ret/url HTTP/1.0\r\n\r\n"],
  ["return 404", "GET /ret/404 HTTP/1.0\r\n\r\n"],
  ["return 404 text", "GET /ret/404text HTTP/1.0\r\n\r\n"],
  ["return 418: no page", "GET /ret/418 HTTP/1.0\r\n\r\n"],
  ["return 204", "GET /ret/204 HTTP/1.0\r\n\r\n"],
  ["return 444 closes", "GET /ret/444 HTTP/1.0\r\n\r\n"],
  ["absolute_redirect off", "GET /ret/307 HTTP/1.0\r\nHost: h.test\r\n\r\n"],
  ["server_name_in_redirect on, port_in_redirect off", "GET /ret/308 HTTP/1.0\r\nHost: h.test\r\n\r\n"],
  ["rewrite with ? in the replacement adds the args", "GET /rw/args/a?q=1 HTTP/1.0\r\n\r\n"],
  ["rewrite ending in ? drops the args", "GET /rw/drop/a?q=1 HTTP/1.0\r\n\r\n"],
  ["two rewrites, the second last", "GET /rw/chain/a HTTP/1.0\r\n\r\n"],
  ["rewrite … redirect appends the args with &", "GET /rw/redirect/a?q=1 HTTP/1.0\r\nHost: h.test\r\n\r\n"],
  ["rewrite … permanent keeps the args", "GET /rw/permanent/a?q=1 HTTP/1.0\r\nHost: h.test\r\n\r\n"],
  ["rewrite to https:// redirects", "GET /rw/url/a HTTP/1.0\r\n\r\n"],
  ["rewrite … break then proxy_pass without URI", "GET /rw/break/a%20b?q=1 HTTP/1.0\r\n\r\n"],
  ["rewrite … break ignores proxy_pass's URI", "GET /rw/breakuri/a?q=1 HTTP/1.0\r\n\r\n"],
  ["rewrite … last into a proxy_pass with URI", "GET /rw/lastpass/a%20b?q=1 HTTP/1.0\r\n\r\n"],
  ["named capture as a variable", "GET /rw/named/zz HTTP/1.0\r\n\r\n"],
  ["rewrite cycle: 500", "GET /rw/loop HTTP/1.0\r\n\r\n"],
  ["rewrite to no location: error_page 404", "GET /rw/nowhere HTTP/1.0\r\n\r\n"],
  ["decoded capture escaped upstream", "GET /rw/escaped/a%3Fb%20c HTTP/1.0\r\n\r\n"],
  ["regex location capture", "GET /cap/hello HTTP/1.0\r\n\r\n"],
  ["if =", "GET /if/eq?x=yes HTTP/1.0\r\n\r\n"],
  ["if !=", "GET /if/eq?x=no HTTP/1.0\r\n\r\n"],
  ["if fails through", "GET /if/eq HTTP/1.0\r\n\r\n"],
  ["if ~* with captures", "GET /if/re HTTP/1.0\r\nUser-Agent: Curl/7.1\r\n\r\n"],
  ["if !~ true", "GET /if/re/no HTTP/1.0\r\n\r\n"],
  ["if !~ false", "GET /if/re/ok HTTP/1.0\r\n\r\n"],
  ["add_header in an if replaces the location's", "GET /if/headers?z=1 HTTP/1.0\r\n\r\n"],
  ["add_header of the location when the if fails", "GET /if/headers HTTP/1.0\r\n\r\n"],
  ["proxy_pass inside if", "GET /if/proxy?up=1 HTTP/1.0\r\n\r\n"],
  ['"0" is false', "GET /if/zero?v=0 HTTP/1.0\r\n\r\n"],
  ["-d", "GET /if/file HTTP/1.0\r\n\r\n"],
  ["!-f", "GET /if/nofile HTTP/1.0\r\n\r\n"],
  ["set in one request", "GET /late HTTP/1.0\r\n\r\n"],
  ["set, and a variable set only by another request", "GET /set HTTP/1.0\r\n\r\n"],
  ["error_page = keeps the page's status", "GET /ep/equal HTTP/1.0\r\n\r\n"],
  ["error_page =299 with args, POST becomes GET", "POST /ep/code?y=2 HTTP/1.0\r\nContent-Length: 2\r\n\r\nab"],
  ["error_page to a named location on a 502", "GET /ep/named HTTP/1.0\r\n\r\n"],
  ["error_page to a URL: 302", "GET /ep/url HTTP/1.0\r\n\r\n"],
  ["error_page =301 to a URL", "GET /ep/url301 HTTP/1.0\r\n\r\n"],
  ["error_page to itself: not twice", "GET /ep/self HTTP/1.0\r\n\r\n"],
  ["an error page that errs: answered plainly", "GET /ep/chain HTTP/1.0\r\n\r\n"],
  ["recursive_error_pages on: the error page's own error_page applies", "GET /ep/rchain HTTP/1.0\r\n\r\n"],
  ["proxy_intercept_errors on: 500 from upstream", "GET /ep/intercept/st/500 HTTP/1.0\r\n\r\n"],
  ["proxy_intercept_errors on: a 404 without error_page passes", "GET /ep/intercept/st/404 HTTP/1.0\r\n\r\n"],
  ["intercepted 404 to a proxied location with =", "GET /ep/toproxy/st/404 HTTP/1.0\r\n\r\n"],
  [
    "413 to an error_page: checked once, the connection still closes",
    "POST /ep/big HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789",
  ],
  ["proxy_intercept_errors off: the upstream's 500", "GET /ep/nointercept/st/500 HTTP/1.0\r\n\r\n"],
  ["add_header, always, empty value", "GET /hdr/ HTTP/1.0\r\n\r\n"],
  ["add_header on a 404: only always", "GET /hdr/404 HTTP/1.0\r\n\r\n"],
  ["add_header on a 301", "GET /hdr/301 HTTP/1.0\r\n\r\n"],
  ["add_header on a proxied 200", "GET /hdr/proxy HTTP/1.0\r\n\r\n"],
  ["add_header on a proxied 404", "GET /hdr/proxy/st/404 HTTP/1.0\r\n\r\n"],
  ["add_header inherited from the server", "GET /hdr/inherit HTTP/1.0\r\n\r\n"],
  ...redirectCases(),
  [
    "Expect: 100-continue on a return",
    "POST /ret/text HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab",
  ],
  [
    "Expect: 100-continue on a proxied request without a body",
    "GET /hdr/proxy HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
  ],
  [
    "Expect: 100-continue from HTTP/1.0: none",
    "POST /hdr/proxy HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nab",
  ],
  [
    "Expect: 100-continue before a redirect",
    "GET /ret/301 HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
  ],
];

function redirectCases(): Array<readonly [string, string]> {
  const cases: Array<readonly [string, string]> = [];
  const headers = [
    ["to proxy_pass's URL", `${enc(`Location:${BACK}/up/a?b=1`)}&${enc(`Refresh:5; url=${BACK}/up/r`)}`],
    ["relative", enc("Location:/up/z")],
    ["elsewhere on the backend", enc(`Location:${BACK}/x/y`)],
  ] as const;
  for (const location of ["default", "nouri", "off", "text", "regex", "relative"]) {
    for (const [what, query] of headers) {
      cases.push([
        `proxy_redirect ${location}: Location ${what}`,
        `GET /pr/${location}/st/302?${query} HTTP/1.0\r\nHost: h.test\r\n\r\n`,
      ]);
    }
  }
  return cases;
}

interface Reply {
  readonly reply: string;
  readonly backend: string[];
}

/** The reply with the peer's own port, its server token and Date made comparable. */
function normalize(reply: Buffer, peer: Peer): string {
  return reply
    .toString("latin1")
    .replaceAll(`:${peer.port}`, ":PORT")
    .replace(/^(Date|Server): [^\r]*\r\n/gim, "")
    .replace(/nginx\/1\.\d+\.\d+|wsgate\/[\d.]+/g, "TOKEN");
}

/** rewrite_log notices, warnings and errors, without time, pid and connection number. */
function scriptLines(log: string): string[] {
  return log
    .split("\n")
    .filter((line) => / \[(notice|warn|error)\] .*(matches|rewritten|uninitialized|cycle|client)/.test(line))
    .filter((line) => !line.includes("open()") && !line.includes("closed keepalive"))
    .map((line) => line.replace(/^\S+ \S+ (\[\w+\]) \d+#\d+: (\*\d+ )?/, "$1 ").replaceAll(/:\d{4,5}/g, ":PORT"));
}

describe("differential: rewrite, return, if, set, error_page, add_header, proxy_redirect", { skip }, () => {
  let backend: ScriptedBackend;
  const peers: Partial<Record<"nginx" | "wsgate", Peer>> = {};
  const seen: Record<"nginx" | "wsgate", Reply[]> = { nginx: [], wsgate: [] };

  before(async () => {
    backend = await startScriptedBackend();
    const config = CONFIG.replaceAll("BACKEND", String(backend.port));
    peers.nginx = await startPeer("nginx", config);
    peers.wsgate = await startPeer("wsgate", config);
    for (const name of ["nginx", "wsgate"] as const) {
      const peer = peers[name]!;
      for (const [, request] of REQUESTS) {
        const before = backend.heads.length;
        const reply = await exchange(peer.port, request.replaceAll("BACKEND", String(backend.port)));
        seen[name].push({ reply: normalize(reply, peer), backend: backend.heads.slice(before) });
      }
      await linesEventually(peer.accessLog, REQUESTS.length);
    }
  });

  after(async () => {
    await peers.nginx?.stop();
    await peers.wsgate?.stop();
    await backend?.close();
  });

  REQUESTS.forEach(([what], i) => {
    test(what, () => {
      const nginx = seen.nginx[i]!;
      const wsgate = seen.wsgate[i]!;
      assert.equal(wsgate.reply, nginx.reply, "the reply");
      assert.deepEqual(wsgate.backend, nginx.backend, "what the backend received");
    });
  });

  test("the access-log lines", () => {
    assert.deepEqual(comparableLog(peers.wsgate!.accessLog()), comparableLog(peers.nginx!.accessLog()));
  });

  test("rewrite_log notices, uninitialized-variable warnings, cycle errors", () => {
    const nginx = scriptLines(peers.nginx!.errorLog());
    assert.ok(
      nginx.some((line) => line.includes("rewritten data")),
      "nginx logged rewrites",
    );
    assert.deepEqual(scriptLines(peers.wsgate!.errorLog()), nginx);
  });
});
