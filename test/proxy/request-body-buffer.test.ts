/**
 * RequestBodyBuffer: memory up to its limit, then an unlinked temporary file
 * with back-pressure; sent whole any number of times; nginx's hashed names.
 */

import { after, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RequestBodyBuffer, tempFileName, type SpoolError } from "../../src/proxy/request-body-buffer.js";
import { withTimeout } from "../support/wait.js";

const dir = mkdtempSync(join(tmpdir(), "wsgate-body-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A socket that keeps what is written; every other write asks for a drain. */
function sink(): { socket: Socket; data: () => Buffer } {
  const chunks: Buffer[] = [];
  let writes = 0;
  let drain: (() => void) | undefined;
  const socket = {
    write(chunk: Buffer): boolean {
      chunks.push(Buffer.from(chunk));
      if (++writes % 2 === 1) return true;
      setImmediate(() => drain?.());
      return false;
    },
    once(_event: string, listener: () => void) {
      drain = listener;
    },
  };
  return { socket: socket as unknown as Socket, data: () => Buffer.concat(chunks) };
}

function send(buffer: RequestBodyBuffer): Promise<Buffer> {
  const { socket, data } = sink();
  return withTimeout(
    new Promise((resolve, reject) =>
      buffer.writeTo(
        socket,
        () => true,
        (error) => (error ? reject(error.err) : resolve(data())),
      ),
    ),
    3000,
    "the body sent",
  );
}

function finish(buffer: RequestBodyBuffer): Promise<SpoolError | undefined> {
  return withTimeout(new Promise((resolve) => buffer.finish(resolve)), 3000, "the body stored");
}

describe("RequestBodyBuffer", () => {
  test("temp file names: ten digits, the levels from the name's end (ngx_create_hashed_filename)", () => {
    assert.equal(tempFileName({ path: "/t", levels: [] }, 1), "/t/0000000001");
    assert.equal(tempFileName({ path: "/t", levels: [1, 2] }, 1), "/t/1/00/0000000001");
    assert.equal(tempFileName({ path: "/t", levels: [2] }, 1234), "/t/34/0000001234");
    assert.equal(tempFileName({ path: "/t", levels: [1, 1, 1] }, 987), "/t/7/8/9/0000000987");
  });

  test("a body within the limit stays in memory: no file, no warn", async () => {
    const spooled: string[] = [];
    const buffer = new RequestBodyBuffer(
      10,
      { path: join(dir, "mem"), levels: [] },
      {
        spooled: (path) => spooled.push(path),
        resume: () => undefined,
      },
    );
    assert.equal(buffer.add(Buffer.from("hello ")), true);
    assert.equal(buffer.add(Buffer.from("you!")), true);
    assert.equal(await finish(buffer), undefined);
    assert.equal(buffer.inFile, false);
    assert.deepEqual(spooled, []);
    assert.equal((await send(buffer)).toString(), "hello you!");
    buffer.dispose();
  });

  test("past the limit: a file, reading stopped while a write is pending, sent whole twice", async () => {
    const spooled: string[] = [];
    let resumed = 0;
    const temp = { path: join(dir, "file"), levels: [1, 2] };
    const buffer = new RequestBodyBuffer(1000, temp, {
      spooled: (path) => spooled.push(path),
      resume: () => resumed++,
    });
    const pieces = Array.from({ length: 50 }, (_, i) => Buffer.alloc(3000, 65 + (i % 26)));
    assert.equal(buffer.add(pieces[0]!.subarray(0, 500)), true, "in memory still");
    assert.equal(buffer.add(pieces[0]!.subarray(500)), false, "the file is being made: stop reading");
    for (const piece of pieces.slice(1)) {
      // As the connection does: wait for resume() when told to stop.
      const before = resumed;
      if (!buffer.add(piece))
        await withTimeout(
          waitFor(() => resumed > before),
          3000,
          "resume",
        );
    }
    assert.equal(await finish(buffer), undefined);
    assert.equal(buffer.inFile, true);
    assert.equal(buffer.length, 150_000);
    assert.equal(spooled.length, 1);
    assert.match(spooled[0]!, /\/file\/\d\/\d\d\/\d{10}$/);
    // Unlinked at once: the folders are there, the file name is not.
    assert.deepEqual(
      readdirSync(temp.path, { recursive: true }).filter((name) => /\d{10}$/.test(String(name))),
      [],
    );
    const whole = Buffer.concat(pieces);
    assert.ok((await send(buffer)).equals(whole), "first send");
    assert.ok((await send(buffer)).equals(whole), "a retry sends it again");
    buffer.dispose();
  });

  test("a temp path that cannot be made: open() fails, with nginx's words", async () => {
    writeFileSync(join(dir, "plain"), "");
    const buffer = new RequestBodyBuffer(
      0,
      { path: join(dir, "plain", "body"), levels: [] },
      {
        spooled: () => assert.fail("no file"),
        resume: () => undefined,
      },
    );
    buffer.add(Buffer.from("x"));
    const error = await finish(buffer);
    assert.equal(error?.call, "open()");
    assert.match(error!.path, /\/plain\/body\/\d{10}$/);
    assert.equal(error!.err.code, "ENOTDIR");
    buffer.dispose();
  });
});

async function waitFor(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setImmediate(resolve));
}

describe("RequestBodyBuffer with client_body_in_file_only", () => {
  const events = { spooled: () => undefined, resume: () => undefined };

  test("on: a small body still goes to a file, which keeps its name after the request", async () => {
    const temp = { path: join(dir, "only-on"), levels: [] };
    const buffer = new RequestBodyBuffer(1 << 20, temp, events, "on");
    buffer.add(Buffer.from("small"));
    assert.equal(await finish(buffer), undefined);
    assert.equal(buffer.memoryChunks, undefined);
    const file = buffer.fileName!;
    assert.ok(file.startsWith(temp.path + "/"));
    assert.equal((await send(buffer)).toString(), "small");
    buffer.dispose();
    assert.deepEqual(readdirSync(temp.path), [file.slice(temp.path.length + 1)]);
  });

  test("clean: the file goes when the request is over; an empty body gets a file too", async () => {
    const temp = { path: join(dir, "only-clean"), levels: [] };
    const buffer = new RequestBodyBuffer(1 << 20, temp, events, "clean");
    assert.equal(await finish(buffer), undefined);
    assert.ok(buffer.fileName);
    assert.equal(readdirSync(temp.path).length, 1);
    buffer.dispose();
    await withTimeout(
      (async () => {
        while (readdirSync(temp.path).length !== 0) await new Promise((done) => setTimeout(done, 10));
      })(),
      3000,
      "the file removed",
    );
  });

  test("off: a body that fits stays in memory, with no file name", async () => {
    const buffer = new RequestBodyBuffer(1 << 20, { path: join(dir, "only-off"), levels: [] }, events);
    buffer.add(Buffer.from("mem"));
    assert.equal(await finish(buffer), undefined);
    assert.equal(buffer.fileName, undefined);
    assert.equal(Buffer.concat(buffer.memoryChunks!).toString(), "mem");
    buffer.dispose();
  });
});
