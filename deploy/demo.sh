#!/usr/bin/env bash
# Fjord's main job on a fresh Debian/Ubuntu machine with Node 20+: installs what is missing
# (deploy/setup.sh), then runs `fjordctl demo` — a scheduler, a 3-host lab with a worker per host
# (as root; simulated hosts otherwise), two tenants on one subnet, placements across hosts, tenant
# isolation proven with packets — and removes everything it made on exit or Ctrl-C.
# Extra arguments go to `fjordctl demo` (see --help there).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/setup.sh --demo
exec node --import tsx services/cli/src/main.ts demo "$@"
