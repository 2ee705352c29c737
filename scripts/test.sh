#!/usr/bin/env bash
# The README's test command: sets up .venv and runs the whole suite.
#   CRM_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test scripts/test.sh
# runs it on PostgreSQL instead of SQLite. Extra arguments go to pytest.
# Without CI set, browser and PostgreSQL-only tests that cannot run are skipped
# and listed at the end with the reason; with CI set they fail instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if ! command -v chromium >/dev/null 2>&1 && [ -z "${CRM_CHROMIUM:-}" ]; then
  echo "note: Debian's chromium is not installed (apt-get install -y chromium);" \
       "browser tests will be skipped${CI:+ — and fail, since CI is set}."
fi
echo "database: ${CRM_TEST_DATABASE_URL:-SQLite (a file per test)}"
exec .venv/bin/python -m pytest -rs -p no:cacheprovider "$@"
