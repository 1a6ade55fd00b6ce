/**
 * Configuration errors of the rewrite module, add_header, error_page and
 * proxy_redirect: wsgate's message and place, and nginx -t's text for the
 * very same file where Debian's nginx is installed.
 */

import { after, before, test } from "node:test";
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError } from "../../src/core/errors.js";
import { loadConfig } from "../../src/config/load.js";
import { makeTempDir, nginxTest, removeTempDir, writeTree } from "../support/config-files.js";

let root: string;
let counter = 0;

before(() => {
  root = makeTempDir("rewrite-errors");
});

after(() => removeTempDir(root));

/** `server` is the inside of one server block, which starts on line 4 of the file. */
function fileWith(server: string): string {
  return `events {}\nhttp {\n  server {\n    listen 127.0.0.1:8999;\n${server}\n  }\n}\n`;
}

/** Load the file; return the error's rendered message (place included), or "" when it loads. */
async function loadError(text: string): Promise<{ message: string; nginx: string | undefined; prefix: string }> {
  const prefix = join(root, `case${++counter}`);
  writeTree(prefix, { "nginx.conf": text });
  const confFile = join(prefix, "nginx.conf");
  let message = "";
  try {
    await loadConfig({ prefix, confFile });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
    message = err.message.replaceAll(prefix, "PREFIX");
  }
  const nginx = nginxTest({ prefix, confFile });
  return { message, nginx: nginx && (nginx.emerg ?? "").replaceAll(prefix, "PREFIX"), prefix };
}

const AT5 = " in PREFIX/nginx.conf:5";

/** [server-block text, expected message ("" = loads)]. */
const CASES: ReadonlyArray<readonly [string, string]> = [
  ["return abc;", `invalid return code "abc"${AT5}`],
  ["recursive_error_pages on;", ""],
  [
    "recursive_error_pages maybe;",
    `invalid value "maybe" in "recursive_error_pages" directive, it must be "on" or "off"${AT5}`,
  ],
  ["recursive_error_pages on; recursive_error_pages off;", `"recursive_error_pages" directive is duplicate${AT5}`],
  ["recursive_error_pages;", `invalid number of arguments in "recursive_error_pages" directive${AT5}`],
  ["return 1000;", `invalid return code "1000"${AT5}`],
  ["return 200 a b;", `invalid number of arguments in "return" directive${AT5}`],
  ["return;", `invalid number of arguments in "return" directive${AT5}`],
  ["return http://x.test/;", ""],
  ["return $scheme://x.test/;", ""],
  ["rewrite ^/(a /x;", `pcre2_compile() failed: missing closing parenthesis in "^/(a"${AT5}`],
  ["rewrite [a /x;", `pcre2_compile() failed: missing terminating ] for character class in "[a"${AT5}`],
  [`rewrite ^/a "";`, `empty replacement${AT5}`],
  ["rewrite ^/a /b foo;", `invalid parameter "foo"${AT5}`],
  ["rewrite ^/a;", `invalid number of arguments in "rewrite" directive${AT5}`],
  ["rewrite ^/(?<tail>.*) /$tail last;", ""],
  ["break 1;", `invalid number of arguments in "break" directive${AT5}`],
  ["if (a) { }", `invalid condition "a"${AT5}`],
  ["if ($uri = ) { }", `invalid condition "$uri"${AT5}`],
  ["if ($uri = b c) { }", `invalid condition "$uri"${AT5}`],
  ["if ($uri x b) { }", `unexpected "x" in condition${AT5}`],
  [`if ($uri ~ "(") { }`, `pcre2_compile() failed: missing closing parenthesis in "("${AT5}`],
  ["if (-z /x) { }", `invalid condition "-z"${AT5}`],
  ["if (-f) { }", `invalid condition "-f"${AT5}`],
  ["if ($uri) return 200;", `directive "if" has no opening "{"${AT5}`],
  ["if ( $uri ) { return 200; }", ""],
  [`if ($http_a ~* "^(x|y)$") { return 403; }`, ""],
  ["if ($nope) { }", `unknown "nope" variable`],
  ["location / { if ($uri) { location /x {} } }", `"location" directive is not allowed here${AT5}`],
  ["location / { if ($uri) { if ($uri) {} } }", `"if" directive is not allowed here${AT5}`],
  [
    "location / { if ($uri) { proxy_pass http://127.0.0.1:1/x; } }",
    `"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, ` +
      `or inside "if" statement, or inside "limit_except" block${AT5}`,
  ],
  ["set a b;", `invalid variable name "a"${AT5}`],
  ["set $uri x;", `the duplicate "uri" variable${AT5}`],
  ["set $x;", `invalid number of arguments in "set" directive${AT5}`],
  ["location /a { set $v 1; } location /b { return 200 $v; }", ""],
  ["rewrite_log maybe;", `invalid value "maybe" in "rewrite_log" directive, it must be "on" or "off"${AT5}`],
  [
    "uninitialized_variable_warn on; uninitialized_variable_warn off;",
    `"uninitialized_variable_warn" directive is duplicate${AT5}`,
  ],
  ["error_page 404;", `invalid number of arguments in "error_page" directive${AT5}`],
  ["error_page 200 /x;", `value "200" must be between 300 and 599${AT5}`],
  ["error_page 404 =abc /x;", `invalid value "=abc"${AT5}`],
  ["error_page = /x;", `invalid value "="${AT5}`],
  ["error_page abc /x;", `invalid value "abc"${AT5}`],
  ["error_page 499 /x;", `invalid value "499"${AT5}`],
  ["error_page 404 500 =200 @x;", ""],
  ["add_header X;", `invalid number of arguments in "add_header" directive${AT5}`],
  ["add_header X y never;", `invalid parameter "never"${AT5}`],
  ["proxy_redirect default;", `"proxy_redirect default" should be placed after the "proxy_pass" directive${AT5}`],
  ["proxy_redirect foo;", `invalid parameter "foo"${AT5}`],
  ["proxy_redirect ~(a /x;", `pcre2_compile() failed: missing closing parenthesis in "(a"${AT5}`],
  [
    "location / { proxy_redirect default; proxy_pass http://127.0.0.1:1; }",
    `"proxy_redirect default" should be placed after the "proxy_pass" directive${AT5}`,
  ],
  ["location / { proxy_pass http://127.0.0.1:1; proxy_redirect default; proxy_redirect /a /b; }", ""],
  [
    "proxy_intercept_errors yes;",
    `invalid value "yes" in "proxy_intercept_errors" directive, it must be "on" or "off"${AT5}`,
  ],
];

for (const [server, expected] of CASES) {
  test(`${server} → ${expected === "" ? "loads" : expected}`, async () => {
    const { message, nginx } = await loadError(fileWith(server));
    assert.equal(message, expected);
    // nginx -t on the same file says the same (its message has no " in FILE:LINE" only for unknown variables).
    if (nginx !== undefined) assert.equal(nginx, expected);
  });
}
