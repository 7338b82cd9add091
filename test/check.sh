#!/usr/bin/env bash
# Regenerates protobuf code and fails if the committed copy differs; then type-checks and lints.
set -euo pipefail
cd "$(dirname "$0")/.."
npx buf lint proto
npm run --silent generate
if [ -n "$(git status --porcelain -- packages/proto/src/gen)" ]; then
  echo "generated protobuf code is stale: run 'npm run generate' and commit packages/proto/src/gen" >&2
  git status --short -- packages/proto/src/gen >&2
  exit 1
fi
npx tsc -p tsconfig.json --noEmit
npx eslint .
echo "check: ok"
