#!/usr/bin/env bash
# `npm test`: installs what is missing, typechecks, then runs every spec and end-to-end suite with
# node's test runner (through tsx). Suites start their own Redis, PGlite and S3 server.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/ensure-redis.sh
bash scripts/ensure-debootstrap.sh
npx tsc -p tsconfig.json --noEmit
# Node 20's --test takes no globs: list the files here.
mapfile -t files < <(find apps libs test -name node_modules -prune -o \( -name '*.spec.ts' -o -name '*.test.ts' \) -print | sort)
if [ "${#files[@]}" -eq 0 ]; then echo "no test files found" >&2; exit 1; fi
exec node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
