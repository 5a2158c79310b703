#!/usr/bin/env bash
# Makes sure a redis-server binary is on PATH, installing Debian's package when allowed.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then exit 0; fi
if [ "${ALLOW_APT_INSTALL:-true}" = "true" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  echo "redis-server is missing: installing it with apt-get" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
else
  echo "redis-server is not installed. Install it (Debian/Ubuntu: sudo apt-get install redis-server)," >&2
  echo "or point REDIS_URL at a running Redis." >&2
  exit 1
fi
