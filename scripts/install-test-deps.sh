#!/usr/bin/env bash
# What the tests need beyond npm packages: Debian's nginx (package nginx-light),
# to run the same configurations under nginx and wsgate (test/support/nginx.ts).
#
# Idempotent: does nothing when nginx is already installed. Installs it when
# missing and we are root with apt-get (apt-get update only when the package
# lists do not know nginx-light yet, or the install failed without one).
# Otherwise prints why not and exits 0: the tests that need nginx then skip
# and say so. Never leaves an nginx service running: the package's own start
# is refused through policy-rc.d, and an nginx the install started anyway is
# stopped by its pid.
set -euo pipefail

have_nginx() {
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]
}

if have_nginx; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "install-test-deps: nginx is missing and we are not root, so it is not installed; the tests that compare with nginx will be skipped" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: nginx is missing and there is no apt-get to install nginx-light; the tests that compare with nginx will be skipped" >&2
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive

# The pid of an nginx already running from the system pid file (not ours to stop).
running_pid() {
  local pid
  pid="$(cat /run/nginx.pid 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
}
before_pid="$(running_pid)"

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
  apt-cache policy nginx-light 2>/dev/null | awk '/Candidate:/ { print $2 }'
}
updated=0
if [ -z "$(candidate)" ] || [ "$(candidate)" = "(none)" ]; then
  apt-get update -qq
  updated=1
fi
install() {
  apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
}
if ! install; then
  if [ "$updated" = 1 ]; then
    echo "install-test-deps: apt-get install nginx-light failed; the tests that compare with nginx will be skipped" >&2
    exit 0
  fi
  apt-get update -qq
  if ! install; then
    echo "install-test-deps: apt-get install nginx-light failed; the tests that compare with nginx will be skipped" >&2
    exit 0
  fi
fi

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

if have_nginx; then
  echo "install-test-deps: installed $(nginx -v 2>&1)" >&2
fi
