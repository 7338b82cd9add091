#!/usr/bin/env bash
# The whole test suite, from a fresh machine: setup, the generated-code/type/lint check, unit and
# integration tests (real Postgres and NATS), then end-to-end tests on the lab (root, OVS, LXC).
# Prints one closing line "N passed, N failed, N skipped" and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
bash deploy/setup.sh || exit 1

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT  # the vitest JSON reports, read below
status=0
echo "== check: generated code, types, lint"
bash test/check.sh || status=1
echo "== unit + integration tests"
npx vitest run --project unit --project integration --reporter=default --reporter=json --outputFile="$out/main.json" || status=1
echo "== end-to-end tests (the lab)"
npx vitest run --project e2e --passWithNoTests --reporter=default --reporter=json --outputFile="$out/e2e.json" || status=1

node -e '
  const fs = require("node:fs");
  let passed = 0, failed = 0, skipped = 0;
  for (const f of process.argv.slice(1)) {
    if (!fs.existsSync(f)) { failed++; console.error(`missing report ${f}: a test run crashed`); continue; }
    const r = JSON.parse(fs.readFileSync(f, "utf8"));
    // A file that failed without running its tests (an import error, say) counts as one failure.
    const brokenFiles = r.testResults.filter((f) => f.status === "failed" && f.assertionResults.length === 0).length;
    passed += r.numPassedTests; failed += r.numFailedTests + brokenFiles;
    skipped += r.numPendingTests + r.numTodoTests;
  }
  console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
' "$out/main.json" "$out/e2e.json"
exit $status
