"""The example plugin in examples/crm-example-plugin, installed as a deployer would.

It is pip-installed into a folder of its own, and ``crm`` runs in subprocesses
with that folder on ``PYTHONPATH``: the plugin is found through its
``crm.plugins`` entry point, its migration runs on ``crm init``, its event hook
writes a note when a user is created, and its blueprint serves the note.

The install uses the venv's own setuptools (``--no-build-isolation``, no
download) when that can build wheels: setuptools 70.1 or newer, or an older one
beside the ``wheel`` package. A venv made by ``python3.11 -m venv`` has
setuptools 65.5 and no ``wheel``; there pip builds in an isolated environment,
fetching setuptools from the package index.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "crm-example-plugin"
CRM = Path(sys.executable).parent / "crm"
TIMEOUT = 120


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example (so that the build leaves nothing in the source
    tree) installed with pip into ``<tmp>/site``; returns ``<tmp>``."""
    tmp = tmp_path_factory.mktemp("example-plugin")
    source = tmp / "crm-example-plugin"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns(
        "build", "*.egg-info", "__pycache__", ".pytest_cache"))
    isolation = ["--no-build-isolation"] if venv_builds_wheels() else []
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", *isolation,
         "--no-input", "--target", str(tmp / "site"), str(source)],
        capture_output=True, text=True, timeout=TIMEOUT,
    )
    assert result.returncode == 0, (
        "pip could not install the example plugin:\n" + result.stdout[-3000:] + result.stderr
    )
    return tmp


def venv_builds_wheels() -> bool:
    """Whether this venv's setuptools can build a wheel without downloading anything."""
    probe = (
        "try:\n"
        "    import setuptools.command.bdist_wheel\n"  # setuptools >= 70.1
        "except ImportError:\n"
        "    import wheel.bdist_wheel\n"  # the `wheel` package, for older setuptools
    )
    return subprocess.run([sys.executable, "-c", probe], capture_output=True,
                          timeout=TIMEOUT).returncode == 0


@pytest.fixture(scope="module", autouse=True)
def example_tests(installed: Path) -> Iterator[subprocess.Popen[str]]:
    """The example's own test suite against the installed copy, started in the
    background as soon as it is installed so that it runs beside the ``crm``
    commands of the other tests; the last test collects its result."""
    env = crm_env(installed, "pytest")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--basetemp", str(installed / "pytest-tmp"),
         str(installed / "crm-example-plugin" / "tests")],
        env=env, cwd=installed, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def crm_env(tmp: Path, instance: str, **extra: str) -> dict[str, str]:
    """The environment of a deployed ``crm``: the plugin on ``PYTHONPATH``, a
    SQLite database in ``tmp`` and none of the caller's CRM_* variables (nor
    ``CRM_TEST_DATABASE_URL``: the background run of the example's tests must not
    share the suite's PostgreSQL database, which each test empties)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update(
        PYTHONPATH=str(tmp / "site"),
        PYTHONDONTWRITEBYTECODE="1",
        CRM_INSTANCE_PATH=str(tmp / instance),
        CRM_DATABASE_URL=f"sqlite:///{tmp / instance}.sqlite3",
        **extra,
    )
    return env


def run(args: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    cwd = Path(env["CRM_INSTANCE_PATH"]).parent
    result = subprocess.run(args, env=env, input=stdin, capture_output=True, text=True,
                            timeout=TIMEOUT, cwd=cwd)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_plugins_list_shows_it_enabled(installed):
    out = run([str(CRM), "plugins", "list"], crm_env(installed, "listed"))
    assert "example 0.1.0  [enabled]" in out
    assert "crm_user_created" in out  # its hooks were loaded and registered


def test_crm_plugins_none_disables_it(installed):
    out = run([str(CRM), "plugins", "list"], crm_env(installed, "none", CRM_PLUGINS="none"))
    assert "example 0.1.0  [disabled]" in out


def test_init_migrates_and_the_hook_writes_a_note(installed):
    env = crm_env(installed, "deployed")

    out = run([str(CRM), "init"], env)
    assert "example: applied example_0001" in out

    out = run([str(CRM), "users", "create", "--email", "u@example.com", "--role", "sales",
               "--password-stdin"], env, stdin="correct horse battery staple\n")
    assert "created user u@example.com" in out

    script = (
        "import json\n"
        "from crmcore.app import create_app\n"
        "client = create_app().test_client()\n"
        "response = client.get('/example/notes', base_url='https://localhost')\n"
        "print(json.dumps({'status': response.status_code, 'body': response.get_json()}))\n"
    )
    answer = json.loads(run([sys.executable, "-c", script], env).strip().splitlines()[-1])
    assert answer == {"status": 200,
                      "body": {"greeting": "Hello", "notes": ["Welcome, u@example.com!"]}}


def test_its_own_tests_pass_against_the_installed_copy(example_tests):
    # The example's tests, run as its author would after `pip install`: the
    # plugin comes from its entry point, not from the source folder.
    out, _ = example_tests.communicate(timeout=TIMEOUT)
    assert example_tests.returncode == 0, out
    assert " passed" in out and "failed" not in out and "skipped" not in out
