"""The application factory."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.middleware.proxy_fix import ProxyFix

from crmcore import __version__
from crmcore.auth.roles import RoleRegistry
from crmcore.config import database_url, instance_path, max_upload_bytes, secret_key
from crmcore.db import Base, check_connection, make_engine, session_factory, writer
from crmcore.errors import PluginError
from crmcore.jsoncodec import JSONProvider
from crmcore.plugins import PluginSet
from crmcore.request_text import CrmRequest, TextConverter
from crmcore.routing import IdConverter, LazyBuildRule
from crmcore.types import PluginInfo

log = logging.getLogger("crmcore")


class CrmFlask(Flask):
    """The app's class: requests refuse text no column stores, and URL rules
    compile their builders on first use (:mod:`crmcore.routing`)."""

    request_class = CrmRequest
    url_rule_class = LazyBuildRule


@dataclass
class Runtime:
    """What one application holds: its plugins, database and roles. Reached from a
    view as ``current_app.extensions["crm"]`` and from a service as
    ``session.info["crm"]``."""

    instance: Path
    plugins: PluginSet
    engine: Engine
    roles: RoleRegistry
    # Settings that win over the environment (``SMTP_HOST``, ...): the Flask
    # app's config once there is an app, so that work outside a request (an
    # import thread) sees what the app sees.
    config: Mapping[str, Any] = field(default_factory=dict)
    # Made from the runtime itself (sessions carry it in their info).
    sessions: sessionmaker[Session] = field(init=False)
    # The engine for requests that may write (see db()).
    writer: Engine = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = session_factory(self.engine, self)
        self.writer = writer(self.engine)

    @property
    def hook(self) -> Any:
        return self.plugins.hook


def build_runtime(config: Mapping[str, Any] | None = None,
                  extra_plugins: Mapping[str, PluginInfo] | None = None) -> Runtime:
    """Load plugins and connect the database: everything but the web application.
    The CLI uses it directly so that commands need no Flask app."""
    configure_logging()
    config = dict(config or {})
    instance = instance_path(config)
    plugins = PluginSet(instance, extra_plugins, enabled=config.get("PLUGINS"))
    plugins.hook.crm_models()
    check_table_names(plugins)
    engine = make_engine(database_url(instance, config))
    return Runtime(instance, plugins, engine, RoleRegistry.collect(plugins.hook), config)


def check_table_names(plugins: PluginSet) -> None:
    """Refuse a plugin whose models use a table name outside its own prefix."""
    packages = {
        name: loaded.info.hooks.rsplit(".", 1)[0] for name, loaded in plugins.loaded.items()
    }
    for mapper in Base.registry.mappers:
        module = mapper.class_.__module__
        table = getattr(mapper.local_table, "name", "")
        for name, package in packages.items():
            if (module == package or module.startswith(package + ".")) and not table.startswith(
                name + "_"
            ):
                raise PluginError(
                    f"plugin {name!r}: table {table!r} of model {mapper.class_.__name__} "
                    f"must be named {name}_..."
                )


def configure_logging() -> None:
    """Send crmcore's log to stderr at ``CRM_LOG_LEVEL`` (default INFO), unless
    the host (gunicorn's --log-config, a test runner) configured logging itself."""
    logger = logging.getLogger("crmcore")
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(os.environ.get("CRM_LOG_LEVEL", "INFO").upper())


def create_app(config: Mapping[str, Any] | None = None, *,
               extra_plugins: Mapping[str, PluginInfo] | None = None) -> Flask:
    """Build the application.

    :param config: Flask settings that win over the environment; ``DATABASE_URL``,
        ``INSTANCE_PATH`` and ``PLUGINS`` stand for the ``CRM_*`` variables.
    :param extra_plugins: plugin descriptors to treat as installed, beside the
        entry points; the testing kit uses it for throwaway plugins.
    """
    runtime = build_runtime(config, extra_plugins)
    app = CrmFlask("crmcore", instance_path=str(runtime.instance))
    app.json = JSONProvider(app)
    app.url_map.converters["int"] = IdConverter
    app.url_map.converters["default"] = app.url_map.converters["string"] = TextConverter
    app.config.update(
        SECRET_KEY=secret_key(runtime.instance),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=True,
        REMEMBER_COOKIE_SECURE=True,
        REMEMBER_COOKIE_HTTPONLY=True,
        # A form's CSRF token lives as long as the sign-in session, not
        # Flask-WTF's default hour: a form kept open through a long call
        # still saves. Signing out ends the session, and the token with it.
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=max_upload_bytes(),
    )
    app.config.update(config or {})
    runtime.config = app.config
    app.extensions["crm"] = runtime
    proxies = int(app.config.get("TRUSTED_PROXIES", os.environ.get("CRM_TRUSTED_PROXIES", 0)))
    if proxies:
        # Behind a reverse proxy: take the client address, scheme and host from
        # the X-Forwarded-* headers that this many proxies set.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies,  # type: ignore[method-assign]
                                x_host=proxies)

    @app.teardown_appcontext
    def close_session(_exc: BaseException | None) -> None:
        session = g.pop("db", None)
        if session is not None:
            session.close()

    from crmcore.api import init_api
    from crmcore.web import init_web

    init_web(app)
    init_api(app)
    for result in runtime.hook.crm_blueprints(app=app):
        for blueprint in result or ():
            if blueprint.name in app.blueprints:
                raise PluginError(f"blueprint name {blueprint.name!r} is already taken")
            app.register_blueprint(blueprint)
    runtime.hook.crm_app_created(app=app)
    log.info(
        "crmcore %s started; database %s; plugins enabled: %s",
        __version__,
        runtime.engine.url.render_as_string(hide_password=True),
        ", ".join(f"{n} {runtime.plugins.versions[n]}" for n in runtime.plugins.order) or "none",
    )
    return app


# Requests by these methods never write: they read side by side (SQLite's WAL).
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def db() -> Session:
    """The current request's session, opened on first use and closed at teardown.
    On SQLite a request by any other method (and work outside a request,
    ``crm shell``) takes the write lock as each of its transactions begins:
    one that read first, then wrote after another process had committed,
    would fail at once ("database is locked") instead of waiting its turn."""
    if "db" not in g:
        runtime = current_app.extensions["crm"]
        reads = has_request_context() and request.method in READ_ONLY_METHODS
        g.db = runtime.sessions() if reads else runtime.sessions(bind=runtime.writer)
    return g.db


def check_database(app: Flask) -> None:
    check_connection(app.extensions["crm"].engine)
