"""A regular (non-editable) build ships what the app needs at run time."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_carries_migrations_templates_and_static_files(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("crmcore-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "crmcore/migrations/script.py.mako",
        "crmcore/migrations/versions/0001_users.py",
        "crmcore/migrations/versions/0004_login_failures.py",
        "crmcore/templates/web/base.html",
        "crmcore/static/crm.css",
        "crmcore_plugins/__init__.py",
    }
    assert expected <= names, expected - names
    assert not any(n.startswith(("tests/", "examples/")) for n in names)
