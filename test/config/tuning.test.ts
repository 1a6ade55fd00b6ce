/**
 * The directives that only tune nginx's implementation (modules/tuning.ts):
 * accepted exactly where nginx -t accepts them, and refused with nginx's
 * words and place where it refuses them — each case run through wsgate's
 * loader and through Debian's nginx -t on the same file.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError } from "../../src/core/errors.js";
import { loadConfig } from "../../src/config/load.js";
import { makeTempDir, nginxTest, removeTempDir, writeTree } from "../support/config-files.js";

let prefix: string;
let counter = 0;

before(() => {
  prefix = makeTempDir("tuning");
  writeTree(prefix, { "logs/.keep": "" });
});

after(() => removeTempDir(prefix));

interface Outcome {
  /** The refusal with its place, or undefined when accepted. */
  readonly error: string | undefined;
  readonly warnings: readonly string[];
}

/** wsgate's loader on `text`; nginx -t's [emerg] on the same file (undefined without nginx). */
async function both(text: string): Promise<{ wsgate: Outcome; nginx: string | undefined | null }> {
  const name = `t${++counter}.conf`;
  writeTree(prefix, { [name]: text });
  const confFile = join(prefix, name);
  let wsgate: Outcome;
  try {
    const config = await loadConfig({ prefix, confFile });
    wsgate = { error: undefined, warnings: config.warnings };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    wsgate = { error: err.message, warnings: [] };
  }
  const nginx = nginxTest({ prefix, confFile });
  return { wsgate, nginx: nginx === undefined ? null : nginx.emerg };
}

const inLocation = (line: string): string =>
  `events {}\nhttp {\n    server {\n        listen 127.0.0.1:1;\n        location / {\n            ${line}\n        }\n    }\n}\n`;
const inMain = (line: string): string => `${line}\nevents {}\n`;
const inEvents = (line: string): string => `events {\n    ${line}\n}\n`;
const onListen = (parameters: string): string =>
  `events {}\nhttp {\n    server {\n        listen 127.0.0.1:1 ${parameters};\n    }\n}\n`;

/** Each case: the file, and nginx's refusal (without " in FILE:LINE"), or undefined where it is accepted. */
const CASES: ReadonlyArray<readonly [string, string | undefined]> = [
  [inMain("pcre_jit on;"), undefined],
  [inMain("pcre_jit on;\npcre_jit off;"), `"pcre_jit" directive is duplicate`],
  [inMain("pcre_jit maybe;"), `invalid value "maybe" in "pcre_jit" directive, it must be "on" or "off"`],
  [`events {}\nhttp {\n    pcre_jit on;\n}\n`, `"pcre_jit" directive is not allowed here`],
  [inLocation("aio off;"), undefined],
  [inLocation("aio threads;"), undefined],
  [inLocation("aio fast;"), `"aio" directive invalid value`],
  [inLocation("aio off;\n            aio threads;"), `"aio" directive is duplicate`],
  [inLocation("aio threads=pool1;"), `unknown thread pool "pool1"`],
  [inLocation("aio threads=pool$uri;"), undefined],
  [`thread_pool pool1 threads=4 max_queue=100;\n${inLocation("aio threads=pool1;")}`, undefined],
  [inMain("thread_pool p threads=0;"), `invalid threads value "threads=0"`],
  [inMain("thread_pool p threads=2 max_queue=x;"), `invalid max_queue value "max_queue=x"`],
  [inMain("thread_pool p max_queue=1;"), `"thread_pool" must have "threads" parameter`],
  [inMain("thread_pool p threads=1;\nthread_pool p threads=2;"), `duplicate thread pool "p"`],
  [inMain("thread_pool p;"), `invalid number of arguments in "thread_pool" directive`],
  [inLocation("aio_write on;"), undefined],
  [inLocation("sendfile_max_chunk 512k;"), undefined],
  [inLocation("sendfile_max_chunk 1q;"), `"sendfile_max_chunk" directive invalid value`],
  [
    inLocation("sendfile_max_chunk 1m;\n            sendfile_max_chunk 2m;"),
    `"sendfile_max_chunk" directive is duplicate`,
  ],
  [inLocation("directio off;"), undefined],
  [inLocation("directio 4m;"), undefined],
  [inLocation("directio big;"), `"directio" directive invalid value`],
  [inLocation("directio_alignment 512;"), undefined],
  [inLocation("read_ahead 1x;"), `"read_ahead" directive invalid value`],
  [inLocation("output_buffers 2 32k;"), undefined],
  [inLocation("output_buffers 0 32k;"), `"output_buffers" directive invalid value`],
  [inLocation("output_buffers 2;"), `invalid number of arguments in "output_buffers" directive`],
  [inLocation("postpone_output 1460;"), undefined],
  [inLocation("open_file_cache max=1000 inactive=20s;"), undefined],
  [inLocation("open_file_cache off;"), undefined],
  [inLocation("open_file_cache inactive=20s;"), `"open_file_cache" must have the "max" parameter`],
  [inLocation("open_file_cache max=0;"), `invalid "open_file_cache" parameter "max=0"`],
  [inLocation("open_file_cache max=1 inactive=1x;"), `invalid "open_file_cache" parameter "inactive=1x"`],
  [inLocation("open_file_cache_valid 30s;"), undefined],
  [inLocation("open_file_cache_valid 300ms;"), `"open_file_cache_valid" directive invalid value`],
  [inLocation("open_file_cache_min_uses two;"), `"open_file_cache_min_uses" directive invalid number`],
  [inLocation("open_file_cache_errors on;"), undefined],
  [inLocation("open_log_file_cache max=1000 inactive=20s valid=1m min_uses=2;"), undefined],
  [inLocation("open_log_file_cache off;"), undefined],
  [inLocation("open_log_file_cache inactive=20s;"), `"open_log_file_cache" must have "max" parameter`],
  [inLocation("open_log_file_cache max=1 valid=x;"), `invalid "open_log_file_cache" parameter "valid=x"`],
  [inLocation("lingering_close always;"), undefined],
  [inLocation("lingering_close sometimes;"), `invalid value "sometimes"`],
  [inLocation("lingering_time 30s;\n            lingering_timeout 5s;"), undefined],
  [inEvents("multi_accept on;"), undefined],
  [inEvents("multi_accept yes;"), `invalid value "yes" in "multi_accept" directive, it must be "on" or "off"`],
  [inEvents("accept_mutex on;\n    accept_mutex_delay 500ms;"), undefined],
  [inEvents("accept_mutex on;\n    accept_mutex off;"), `"accept_mutex" directive is duplicate`],
  [inEvents("accept_mutex_delay soon;"), `"accept_mutex_delay" directive invalid value`],
  [inLocation("directio 1g;\n            client_max_body_size 2G;"), undefined],
  [inLocation("client_body_buffer_size 1g;"), `"client_body_buffer_size" directive invalid value`],
  [inLocation("limit_rate 1g;"), `"limit_rate" directive invalid value`],
  [inLocation("sendfile_max_chunk 1g;"), `"sendfile_max_chunk" directive invalid value`],
  [onListen("rcvbuf=1g"), `invalid rcvbuf "rcvbuf=1g"`],
  [inEvents("use epoll;"), undefined],
  [inEvents("use poll;"), `invalid event type "poll"`],
  [inEvents("use kqueue;"), `invalid event type "kqueue"`],
  [inEvents("use epoll;\n    use epoll;"), `"use" directive is duplicate`],
  [inMain("worker_cpu_affinity auto;"), undefined],
  [inMain("worker_cpu_affinity auto 01 10;"), `invalid number of arguments in "worker_cpu_affinity" directive`],
  [inMain("worker_cpu_affinity 0102;"), `invalid character "2" in "worker_cpu_affinity"`],
  [inMain("worker_priority -5;"), undefined],
  [inMain("worker_priority 0;\nworker_priority 3;"), undefined],
  [inMain("worker_priority 1;\nworker_priority 3;"), `"worker_priority" directive is duplicate`],
  [inMain("worker_priority high;"), `"worker_priority" directive invalid number`],
  [inMain("timer_resolution 100ms;"), undefined],
  [onListen("deferred bind reuseport fastopen=256 backlog=1024 rcvbuf=64k sndbuf=1m"), undefined],
  [onListen("so_keepalive=on"), undefined],
  [onListen("so_keepalive=30m::10"), undefined],
  [onListen("so_keepalive=0:0:0"), `invalid so_keepalive value: "0:0:0"`],
  [onListen("so_keepalive=1:2:3:4"), `invalid so_keepalive value: "1:2:3:4"`],
  [onListen("so_keepalive=500ms"), `invalid so_keepalive value: "500ms"`],
  [onListen("fastopen=-1"), `invalid fastopen "fastopen=-1"`],
  [onListen("fastopen"), `invalid parameter "fastopen"`],
  [onListen("rcvbuf=lots"), `invalid rcvbuf "rcvbuf=lots"`],
  [onListen("deferred=1"), `invalid parameter "deferred=1"`],
  [onListen("setfib=1"), `invalid parameter "setfib=1"`],
  [
    onListen("accept_filter=dataready"),
    `accept filters "accept_filter=dataready" are not supported on this platform, ignored`,
  ],
];

describe("directives that only tune nginx's implementation", () => {
  for (const [text, refusal] of CASES) {
    test(`${refusal === undefined ? "accepted" : "refused"}: ${text.replace(/\s+/g, " ").slice(0, 110)}`, async () => {
      const { wsgate, nginx } = await both(text);
      if (refusal === undefined) assert.equal(wsgate.error, undefined);
      else assert.match(wsgate.error ?? "", new RegExp(`^${escape(refusal)} in ${escape(prefix)}/t\\d+\\.conf:\\d+$`));
      if (nginx !== null) assert.equal(wsgate.error, nginx, "nginx -t says otherwise");
    });
  }

  test("aio threads=$variable: its variables must exist, as nginx checks them", async () => {
    const { wsgate, nginx } = await both(inLocation("aio threads=$nope;"));
    assert.equal(wsgate.error, `unknown "nope" variable`);
    if (nginx !== null) assert.equal(wsgate.error, nginx);
  });

  test("aio on is accepted (nginx's Linux builds have file AIO; Debian's has not)", async () => {
    const { wsgate } = await both(inLocation("aio on;"));
    assert.equal(wsgate.error, undefined);
  });

  test("worker_cpu_affinity masks that do not match worker_processes: nginx's [warn]", async () => {
    const text = inMain("worker_processes 3;\nworker_cpu_affinity 0001 0010;");
    const { wsgate } = await both(text);
    assert.deepEqual(wsgate.warnings, [
      `the number of "worker_processes" is not equal to the number of "worker_cpu_affinity" masks, ` +
        `using last mask for remaining worker processes`,
    ]);
    const file = join(prefix, `t${counter}.conf`);
    const nginx = nginxTest({ prefix, confFile: file });
    if (nginx) assert.match(nginx.stderr, /\[warn\] .*the number of "worker_processes" is not equal/);
    const matching = await both(inMain("worker_processes 2;\nworker_cpu_affinity 0001 0010;"));
    assert.deepEqual(matching.wsgate.warnings, []);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
