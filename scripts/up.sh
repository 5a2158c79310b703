#!/usr/bin/env bash
# `npm run up`: everything a fresh machine needs, then the service on the embedded default
# (PGlite + local disk under DATA_DIR, a local redis-server) with a small MNIST sample loaded.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
[ -n "${REDIS_URL:-}" ] || bash scripts/ensure-redis.sh
exec npx tsx apps/api/src/standalone.ts --sample
