#!/usr/bin/env bash
# The compose fleet's spec runner: reads the server's setup link and the
# agent's fingerprint from their logs with the runner's own functions
# (e2e/lib/fleet.sh), then runs the same Playwright projects as e2e/run.
set -euo pipefail
E2E_DIR=/src/e2e
# shellcheck source=e2e/lib/common.sh
. "$E2E_DIR/lib/common.sh"
# shellcheck source=e2e/lib/fleet.sh
. "$E2E_DIR/lib/fleet.sh"
mkdir -p "$CAIRN_E2E_STATE" "$CAIRN_E2E_SCRATCH" "$CAIRN_E2E_ARTIFACTS/logs"
chmod 700 "$CAIRN_E2E_STATE"
await_server "$CAIRN_E2E_SERVER_LOG"
await_agent /shared/logs/agent.log
CAIRN_E2E_ADMIN_PASSWORD=$(openssl rand -hex 16)
export CAIRN_E2E_ADMIN_PASSWORD
cd "$E2E_DIR"
rc=0
npx --no-install playwright test "$@" || rc=$?
cp /shared/logs/*.log "$CAIRN_E2E_ARTIFACTS/logs/" 2>/dev/null || true
node "$E2E_DIR/lib/summary.js" "$CAIRN_E2E_ARTIFACTS/results.json" || true
exit "$rc"
