#!/usr/bin/env bash
# What the tests need beyond npm packages, from Debian: nginx (package
# nginx-light), to run the same configurations under nginx and wsgate
# (test/support/nginx.ts), Chromium (package chromium), the real browser
# of test/browser/ (test/support/chromium.ts, driven by playwright-core), and
# Prometheus (package prometheus: promtool and the server), which checks and
# scrapes wsgate_metrics in test/metrics/, and Redis (package redis-server),
# which the chat, push and Socket.IO examples fan messages out through
# (examples/, test/examples/).
#
# Idempotent: does nothing for a package already installed. Installs what is
# missing when we are root with apt-get (apt-get update only when the package
# lists do not know the package yet, or the install failed without one).
# Otherwise prints why not and exits 0: the tests that need it then skip and
# say so. Never leaves an nginx or prometheus service running: the packages'
# own start is refused through policy-rc.d, and one the install started
# anyway is stopped by its pid (a redis-server too).
set -euo pipefail

have_nginx() {
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]
}
have_chromium() {
  [ -x /usr/bin/chromium ]
}
have_prometheus() {
  [ -x /usr/bin/promtool ] && [ -x /usr/bin/prometheus ]
}
have_redis() {
  [ -x /usr/bin/redis-server ]
}

# Package, then the tests that skip without it.
missing=()
if ! have_nginx; then missing+=("nginx-light:the tests that compare with nginx"); fi
if ! have_chromium; then missing+=("chromium:the browser tests (test/browser/)"); fi
if ! have_prometheus; then missing+=("prometheus:the Prometheus tests (test/metrics/)"); fi
if ! have_redis; then missing+=("redis-server:the chat, push and Socket.IO example tests"); fi
if [ "${#missing[@]}" = 0 ]; then
  exit 0
fi

skipped() {
  local entry
  for entry in "${missing[@]}"; do
    echo "install-test-deps: ${entry%%:*} is missing and $1; ${entry#*:} will be skipped" >&2
  done
  exit 0
}
if [ "$(id -u)" != "0" ]; then
  skipped "we are not root, so it is not installed"
fi
if ! command -v apt-get >/dev/null 2>&1; then
  skipped "there is no apt-get to install it"
fi

export DEBIAN_FRONTEND=noninteractive

# The pid of an nginx already running from the system pid file (not ours to stop).
running_pid() {
  local pid
  pid="$(cat /run/nginx.pid 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
}
before_pid="$(running_pid)"
# The same for a prometheus server already running (the package's service runs /usr/bin/prometheus).
prometheus_pids() {
  pgrep -x prometheus 2>/dev/null | sort || true
}
prometheus_before="$(prometheus_pids)"
redis_pids() {
  pgrep -x redis-server 2>/dev/null | sort || true
}
redis_before="$(redis_pids)"

# The package's postinst starts the service through invoke-rc.d; exit 101 refuses it.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  created_policy=1
fi
cleanup() {
  if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi
}
trap cleanup EXIT

candidate() {
  apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }'
}
updated=0
update() {
  if [ "$updated" = 0 ]; then
    apt-get update -qq || true
    updated=1
  fi
}
install() {
  apt-get install -y -qq --no-install-recommends "$1" >/dev/null
}

for entry in "${missing[@]}"; do
  package="${entry%%:*}"
  if [ -z "$(candidate "$package")" ] || [ "$(candidate "$package")" = "(none)" ]; then
    update
  fi
  if ! install "$package"; then
    if [ "$updated" = 0 ]; then
      update
      if install "$package"; then continue; fi
    fi
    echo "install-test-deps: apt-get install $package failed; ${entry#*:} will be skipped" >&2
  fi
done

# If the install started nginx anyway (a policy-rc.d that was already there said yes), stop that one.
after_pid="$(running_pid)"
if [ -n "$after_pid" ] && [ "$after_pid" != "$before_pid" ]; then
  kill -QUIT "$after_pid" 2>/dev/null || true
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    kill -0 "$after_pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -KILL "$after_pid" 2>/dev/null || true
fi

# A prometheus service the install started anyway: only a pid that was not there before is stopped.
for pid in $(prometheus_pids); do
  if ! grep -qx "$pid" <<<"$prometheus_before"; then
    kill -TERM "$pid" 2>/dev/null || true
  fi
done

# The same for a redis-server service the install started anyway.
for pid in $(redis_pids); do
  if ! grep -qx "$pid" <<<"$redis_before"; then
    kill -TERM "$pid" 2>/dev/null || true
  fi
done

if have_nginx; then
  echo "install-test-deps: nginx: $(nginx -v 2>&1)" >&2
fi
if have_chromium; then
  echo "install-test-deps: chromium: $(/usr/bin/chromium --version 2>/dev/null || echo installed)" >&2
fi
if have_prometheus; then
  echo "install-test-deps: prometheus: $(/usr/bin/promtool --version 2>&1 | head -n 1)" >&2
fi
if have_redis; then
  echo "install-test-deps: redis: $(/usr/bin/redis-server --version 2>&1 | head -n 1)" >&2
fi
