"""The production entry, ``crmcore.wsgi:app``, imported as gunicorn imports it:
in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import gc
from flask import Flask
import crmcore.wsgi
print(isinstance(crmcore.wsgi.app, Flask), gc.isenabled(), gc.get_freeze_count())
"""


def start(tmp_path: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CRM_INSTANCE_PATH": str(tmp_path / "instance"),
           "CRM_DATABASE_URL": database_url, "CRM_PLUGINS": "all"}
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, timeout=60)


def test_the_app_is_built_with_its_start_up_objects_frozen(tmp_path: Path) -> None:
    done = start(tmp_path, f"sqlite:///{tmp_path / 'crm.sqlite3'}")

    assert done.returncode == 0, done.stderr
    is_flask, collecting, frozen = done.stdout.split()
    assert is_flask == "True"
    # Cycle collection is back on for the requests...
    assert collecting == "True"
    # ...and skips what start-up built: modules, mapped classes, the app.
    assert int(frozen) > 50_000


def test_a_start_up_error_is_one_line_and_a_failing_status(tmp_path: Path) -> None:
    done = start(tmp_path, "nosuchdb://x")

    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("crmcore cannot start: ")
    assert "Traceback" not in done.stderr
