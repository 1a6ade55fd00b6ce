#!/usr/bin/env bash
# The test command (README, .ci/run): install what the tests need, build, lint, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
npm run build
npm run lint
# Only the *.test.js files: under a test/ folder Node would take every .js file for a test.
mapfile -t tests < <(find dist/test -name '*.test.js' | sort)
# Two files at a time: most of the suite waits on timeouts and peers, not on the CPU.
node --test --test-concurrency=2 "${tests[@]}"
