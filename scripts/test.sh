#!/usr/bin/env bash
# The test command (README, .ci/run): install what the tests need, build, lint, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
# The native tunnel as native/ says now (npm install built it; without a compiler this prints one line and goes on).
node scripts/build-native.mjs
npm run build
npm run lint
# Only the *.test.js files: under a test/ folder Node would take every .js file for a test.
mapfile -t tests < <(find dist/test -name '*.test.js' | sort)
# Two files at a time: most of the suite waits on timeouts and peers, not on the CPU.
node --test --test-concurrency=2 "${tests[@]}"
# The tunnel tests again on the TypeScript tunnel: the pass above took the native tunnel for plain tunnels when the
# addon is built (npm install builds it where a compiler is present). These files open plain tunnels: the tunnel's
# own cases (test/flow: back-pressure, half-close, idle timeout, the WebSocket cases, native-tunnel), the end-to-end
# and seed WebSocket suites, the proxy's ws-* suites, the tunnel timers against nginx, reset_timedout_connection,
# the process suites that hold tunnels across shutdown, reload, workers and shared limits, limit_conn against
# nginx, the chat/push/Socket.IO examples, and the handshake gates (JWT, Origin, PROXY protocol) over tunnels.
tunnel_tests=(
  dist/test/flow/{backpressure,idle-timeout,websocket,native-tunnel}.test.js
  dist/test/e2e/{websocket,seed}.test.js
  dist/test/seed/seed.test.js
  dist/test/proxy/ws-*.test.js
  dist/test/differential/tunnel-timeouts.test.js
  dist/test/http/reset-timedout.test.js
  dist/test/process/{shutdown,reload,workers,limits}.test.js
  dist/test/differential/limit-conn.test.js
  dist/test/examples/{chat,push,socketio}.test.js
  dist/test/http/{auth-jwt-websocket,origin-check,proxy-protocol-workers}.test.js
)
WSGATE_NATIVE_TUNNEL=off node --test --test-concurrency=2 "${tunnel_tests[@]}"
