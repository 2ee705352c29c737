#!/usr/bin/env bash
# The README's run command: sets up .venv, creates a SQLite instance with demo
# data (once), and serves the app on http://127.0.0.1:5000/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CRM_INSTANCE_PATH=${CRM_INSTANCE_PATH:-$PWD/instance}
.venv/bin/crm init
.venv/bin/crm demo
exec .venv/bin/crm run "$@"
