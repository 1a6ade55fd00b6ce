#!/usr/bin/env bash
# What the tests need beyond npm packages: Debian's nginx, to run the same
# configurations under nginx and wsgate. Installed when missing and we are root
# with apt-get; otherwise the comparison tests skip and say why.
set -euo pipefail
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: nginx is missing and cannot be installed here; the differential tests will be skipped" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# The package's own start (policy-rc.d 101) must not leave an nginx running on port 80.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  created_policy=1
fi
apt-get update -qq
apt-get install -y -qq nginx-light >/dev/null
if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi
