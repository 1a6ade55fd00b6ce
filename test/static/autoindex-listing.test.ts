/**
 * The html listing when the response's charset is utf-8 (`charset utf-8`):
 * names are measured and cut in characters, not bytes. wsgate's listing
 * function is given the entries of a directory and compared with nginx's
 * page for the same directory, served with `charset utf-8`.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { mkdirSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { skipWithoutNginx } from "../differential/peers.js";
import { htmlListing, sortEntries, type ListingEntry } from "../../src/static/autoindex-listing.js";
import { openTempDir, rawExchange, startStaticPeer, type StaticPeer } from "./harness.js";

const skip = skipWithoutNginx();

const MTIME = 1796573697;

const NAMES: readonly Buffer[] = [
  Buffer.from("é".repeat(30) + "long.txt"),
  Buffer.from("é".repeat(50)),
  Buffer.from("é".repeat(51)),
  Buffer.from("ü".repeat(40) + "<&>" + "ü".repeat(20)),
  Buffer.from("naïve <b>.txt"),
  Buffer.from("ascii-only.txt"),
  // Not UTF-8: measured in bytes, as nginx measures it.
  Buffer.concat([Buffer.from("bad-"), Buffer.from([0xff, 0xfe]), Buffer.from("x".repeat(50))]),
];

function entriesOf(dir: string): ListingEntry[] {
  const entries = readdirSync(Buffer.from(dir), { encoding: "buffer" })
    .filter((name) => name[0] !== 0x2e)
    .map((name) => {
      const stats = statSync(Buffer.concat([Buffer.from(dir + "/"), name]));
      return {
        name,
        dir: stats.isDirectory(),
        file: stats.isFile(),
        mtime: Math.floor(stats.mtimeMs / 1000),
        size: stats.size,
      };
    });
  sortEntries(entries);
  return entries;
}

/** The body of a chunked reply. */
function dechunk(reply: Buffer): Buffer {
  let at = reply.indexOf("\r\n\r\n") + 4;
  const parts: Buffer[] = [];
  for (;;) {
    const lineEnd = reply.indexOf("\r\n", at);
    const size = parseInt(reply.subarray(at, lineEnd).toString("latin1"), 16);
    if (!(size > 0)) return Buffer.concat(parts);
    parts.push(reply.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}

describe("autoindex: an html listing in utf-8, as nginx cuts names", { skip }, () => {
  let docroot: string;
  let nginx: StaticPeer;

  before(async () => {
    docroot = openTempDir("listing");
    for (const [i, name] of NAMES.entries()) {
      const path = Buffer.concat([Buffer.from(docroot + "/"), name]);
      if (i === 2) mkdirSync(path);
      else writeFileSync(path, "x".repeat(i * 1000));
      utimesSync(path, MTIME, MTIME);
    }
    writeFileSync(join(docroot, ".dot"), "");
    nginx = await startStaticPeer(
      "nginx",
      `server { listen 127.0.0.1:PORT; root ${docroot}; location / { autoindex on; charset utf-8; } }`,
    );
  });

  after(async () => {
    await nginx?.stop();
    rmSync(docroot, { recursive: true, force: true });
  });

  test("the same page as nginx's", async () => {
    const reply = await rawExchange(nginx.port, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    assert.match(reply.toString("latin1"), /Content-Type: text\/html; charset=utf-8\r\n/);
    const ours = htmlListing(entriesOf(docroot), {
      uri: Buffer.from("/"),
      utf8: true,
      exactSize: true,
      gmtoffMinutes: 0,
    });
    assert.equal(ours.toString("latin1"), dechunk(reply).toString("latin1"));
    // The cut is in characters: 47 of them, then "..>".
    assert.ok(ours.includes(Buffer.from("é".repeat(47) + "..&gt;</a>")), ours.toString());
  });
});
