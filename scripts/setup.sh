#!/usr/bin/env bash
# Creates .venv (once) and installs crmcore with its test and production extras.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip "setuptools>=70.1" wheel
.venv/bin/python -m pip install --quiet -e '.[test,prod]'
