#!/usr/bin/env bash
# The Docker image rehearsal (test/docker-images.e2e.test.ts) makes its base image with debootstrap.
# Installs Debian's package when allowed; without it that test is skipped, saying why, and nothing fails.
set -uo pipefail
if command -v debootstrap >/dev/null 2>&1; then exit 0; fi
if [ "${ALLOW_APT_INSTALL:-true}" = "true" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  echo "debootstrap is missing: installing it with apt-get (for the Docker image rehearsal)" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; } >/dev/null \
    || echo "could not install debootstrap: the Docker image rehearsal will be skipped" >&2
fi
exit 0
