#!/usr/bin/env bash
# What the HTTP/2 benchmark (bench/http2.ts) needs beyond npm packages and
# nginx (scripts/install-test-deps.sh): h2load, from Debian's nghttp2-client.
#
# Idempotent: does nothing when h2load is already installed. Installs it when
# missing and we are root with apt-get (apt-get update only when the package
# lists do not know nghttp2-client yet, or the install failed without one).
# Otherwise prints why not and exits 0: the benchmark then leaves out the
# HTTP/2 request phase and says so.
set -euo pipefail

if command -v h2load >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "install-bench-deps: h2load is missing and we are not root, so nghttp2-client is not installed; the HTTP/2 request phase will be skipped" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-bench-deps: h2load is missing and there is no apt-get to install nghttp2-client; the HTTP/2 request phase will be skipped" >&2
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive

candidate() {
  apt-cache policy nghttp2-client 2>/dev/null | awk '/Candidate:/ { print $2 }'
}
install() {
  apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends nghttp2-client >/dev/null
}
updated=0
if [ -z "$(candidate)" ] || [ "$(candidate)" = "(none)" ]; then
  apt-get update -qq -o DPkg::Lock::Timeout=300
  updated=1
fi
if ! install; then
  if [ "$updated" = 0 ]; then
    apt-get update -qq -o DPkg::Lock::Timeout=300
    install || true
  fi
fi

if command -v h2load >/dev/null 2>&1; then
  echo "install-bench-deps: installed $(h2load --version 2>&1 | head -n 1)" >&2
else
  echo "install-bench-deps: apt-get install nghttp2-client failed; the HTTP/2 request phase will be skipped" >&2
fi
