"""The testing kit for plugin authors, a pytest plugin installed with crmcore.

Fixtures:

``app``
    An application with a fresh, migrated database. Plugins enabled: those named
    by ``@pytest.mark.plugins("a", "b")`` (none when the marker is empty), else
    every installed plugin. Throwaway plugins come from overriding the
    ``crm_extra_plugins`` fixture with ``{name: PluginInfo}``.
``db_session``
    A session on the app's database (commit it yourself).
``client``
    Flask's test client over HTTPS, so Secure cookies behave as in production.
``make_user``
    ``make_user(role="sales", email=None, password=...)`` creates a user.
``login``
    ``login(client, user)`` signs ``user`` in through the real login form.
``api_client``
    ``api_client(user=None)``: a test client that sends a fresh bearer token of
    ``user`` (an admin when omitted) with each request.
``sql_statements``
    ``with sql_statements() as statements:`` lists the SQL the app's engine
    runs inside the block, to assert that a request's query count does not
    grow with its page size.
``live_server``
    The app served by a real HTTP server on a free loopback port; ``.url``.
``mailbox``
    A real SMTP server (aiosmtpd) on a free loopback port, with the ``app``
    pointed at it; ``mailbox.messages`` holds what it received as
    ``email.message.EmailMessage`` objects, ``mailbox.wait(n)`` waits for ``n``.
``page``
    A Playwright page in Debian's Chromium (``CRM_CHROMIUM`` overrides the path).

The database is SQLite in the test's temporary folder, or PostgreSQL when
``CRM_TEST_DATABASE_URL`` is set (each test starts from an empty schema of its
own process, so parallel runs on one database do not collide; the run drops it
when it ends). Tests marked
``postgres_only`` are skipped on SQLite, those marked ``sqlite_only`` on
PostgreSQL. With ``CI`` set,
a missing browser fails instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, text
from sqlalchemy.orm import Session, close_all_sessions

from crmcore.types import PluginInfo

DEFAULT_PASSWORD = "correct horse battery"  # noqa: S105 - test users only
_emails = count(1)


def test_database_url(tmp_path: Path) -> str:
    return os.environ.get("CRM_TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'test.sqlite3'}"


def is_postgres() -> bool:
    return os.environ.get("CRM_TEST_DATABASE_URL", "").startswith("postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "plugins(*names): plugins enabled for the app fixture")
    config.addinivalue_line("markers", "postgres_only: needs CRM_TEST_DATABASE_URL (PostgreSQL)")
    config.addinivalue_line("markers", "sqlite_only: what SQLite alone needs (its locking)")
    config.addinivalue_line("markers", "browser: drives real Chromium through Playwright")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Drop this process's schema, so that test runs leave the shared database
    as they found it. A connection a test leaked must not hang the run: the
    drop then gives up after a few seconds, and the next run of this process
    id empties the schema anyway."""
    url = os.environ.get("CRM_TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        return
    from sqlalchemy.exc import OperationalError

    with suppress(OperationalError):
        _in_postgres(url, "SET LOCAL lock_timeout = '5s'",
                     f'DROP SCHEMA IF EXISTS "{_own_schema()}" CASCADE')


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres_only") and not is_postgres():
        pytest.skip("PostgreSQL only: set CRM_TEST_DATABASE_URL")
    if item.get_closest_marker("sqlite_only") and is_postgres():
        pytest.skip("SQLite only")


def _own_schema() -> str:
    return f"crm_test_{os.getpid()}"


def _in_postgres(url: str, *statements: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def reset_postgres(url: str) -> str:
    """Empty this test process's own schema and return a URL that uses it, so
    that test runs sharing one database never see each other's tables."""
    from sqlalchemy.engine import make_url

    schema = _own_schema()
    _in_postgres(url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE', f'CREATE SCHEMA "{schema}"')
    parsed = make_url(url)
    return parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False)


@pytest.fixture
def crm_extra_plugins() -> dict[str, PluginInfo]:
    """Override to add throwaway plugins: ``{name: PluginInfo}``."""
    return {}


@pytest.fixture
def crm_config(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """The config the ``app`` fixture passes to ``create_app``; override to add keys."""
    marker = request.node.get_closest_marker("plugins")
    url = test_database_url(tmp_path)
    if url.startswith("postgresql"):
        url = reset_postgres(url)
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": url,
        "PLUGINS": "all" if marker is None else ",".join(marker.args),
        "WTF_CSRF_ENABLED": False,
    }


@pytest.fixture
def app(crm_config: dict[str, Any], crm_extra_plugins: dict[str, PluginInfo]) -> Iterator[Flask]:
    from crmcore import alembic_branches
    from crmcore.app import create_app

    app = create_app(crm_config, extra_plugins=crm_extra_plugins)
    runtime = app.extensions["crm"]
    alembic_branches.upgrade_all(runtime.engine, runtime.hook)
    yield app
    # A test may leave a session open (a streamed response it never read): close
    # every one, so that no idle transaction blocks the next test's schema reset.
    close_all_sessions()
    runtime.engine.dispose()


@pytest.fixture
def db_session(app: Flask) -> Iterator[Session]:
    with app.extensions["crm"].sessions() as session:
        yield session


class HttpsClient(FlaskClient):
    """Requests go to https://localhost, so that Secure cookies are sent back."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        if args and isinstance(args[0], str) or "path" in kwargs:
            kwargs.setdefault("base_url", "https://localhost")
        return super().open(*args, **kwargs)


def https_client(app: Flask) -> FlaskClient:
    app.test_client_class = HttpsClient
    return app.test_client()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return https_client(app)


@pytest.fixture
def make_user(app: Flask) -> Callable[..., Any]:
    from crmcore.db import transaction
    from crmcore.services.users import create_user

    def make(role: str = "sales", email: str | None = None, password: str = DEFAULT_PASSWORD,
             name: str = "") -> Any:
        email = email or f"{role}{next(_emails)}@example.com"
        with transaction(app.extensions["crm"].sessions) as session:
            return create_user(session, None, {"email": email, "role": role,
                                               "password": password, "name": name or email})

    return make


@pytest.fixture
def login() -> Callable[..., Any]:
    def do_login(client: FlaskClient, user: Any, password: str = DEFAULT_PASSWORD) -> Any:
        response = client.post("/login", data={"email": user.email, "password": password})
        assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
        return response

    return do_login


class ApiClient:
    """A test client that sends a bearer token and JSON."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.token = token

    def open(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.client.open(url, method=method, headers=headers, **kwargs)

    def get(self, url: str, **kw: Any) -> Any:
        return self.open("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> Any:
        return self.open("POST", url, **kw)

    def patch(self, url: str, **kw: Any) -> Any:
        return self.open("PATCH", url, **kw)

    def put(self, url: str, **kw: Any) -> Any:
        return self.open("PUT", url, **kw)

    def delete(self, url: str, **kw: Any) -> Any:
        return self.open("DELETE", url, **kw)


@pytest.fixture
def api_client(app: Flask, make_user: Callable[..., Any]) -> Callable[..., ApiClient]:
    from crmcore.db import transaction
    from crmcore.services.users import issue_token

    def make(user: Any = None) -> ApiClient:
        user = user or make_user("admin")
        with transaction(app.extensions["crm"].sessions) as session:
            token = issue_token(session, None, session.merge(user), "test")
        return ApiClient(https_client(app), token)

    return make


class LiveServer:
    def __init__(self, app: Flask) -> None:
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def sql_statements(app: Flask) -> Callable[[], AbstractContextManager[list[str]]]:
    @contextmanager
    def record() -> Iterator[list[str]]:
        statements: list[str] = []

        def keep(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            statements.append(statement)

        engine = app.extensions["crm"].engine
        event.listen(engine, "before_cursor_execute", keep)
        try:
            yield statements
        finally:
            event.remove(engine, "before_cursor_execute", keep)

    return record


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    # Browsers keep Secure cookies on http://127.0.0.1 only as a courtesy; serve
    # the live app without the flag, as `crm run` does.
    app.config.update(SESSION_COOKIE_SECURE=False, SESSION_COOKIE_NAME="crm_session")
    with LiveServer(app) as server:
        yield server


def chromium_path() -> str | None:
    return os.environ.get("CRM_CHROMIUM") or shutil.which("chromium") or shutil.which(
        "chromium-browser"
    )


@pytest.fixture(scope="session")
def _browser() -> Iterator[Any]:
    path = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        path = None
    if path is None:
        message = "browser tests need Debian's chromium and the playwright package"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set: not skipping)")
        pytest.skip(message)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=path,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(_browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = _browser.new_context()
    page = context.new_page()
    yield page
    artifacts = Path(os.environ.get("CRM_TEST_ARTIFACTS", "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(artifacts / f"{request.node.name}.png"), full_page=True)
    context.close()


class Mailbox:
    """What an aiosmtpd server on loopback received."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self._arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        from email import message_from_bytes, policy

        message = message_from_bytes(envelope.original_content or envelope.content,
                                     policy=policy.default)
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait(self, count: int = 1, timeout: float = 10.0) -> list[Any]:
        """Block until ``count`` messages arrived; fails the test after ``timeout``."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= count, timeout):
                pytest.fail(f"expected {count} email(s), got {len(self.messages)}")
        return self.messages


@pytest.fixture
def mailbox(app: Flask) -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller

    box = Mailbox()
    # aiosmtpd cannot bind port 0 (it connects to itself to check it started):
    # ask the OS for a free port first.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port,
                      MAIL_FROM="crm@example.test")
    try:
        yield box
    finally:
        controller.stop()
