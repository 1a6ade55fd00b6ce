#!/usr/bin/env node
import { main } from "../dist/src/cli.js";

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Everything is closed by now; should a stray handle keep the loop alive, leave anyway.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (err) => {
    process.stderr.write(`wsgate: [alert] ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(2);
  },
);
