"""The plugin's web endpoints: one blueprint named after the plugin, under /example."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import select

from crm_example.models import ExampleNote
from crmcore.web.kit import db

blueprint = Blueprint("example", __name__, url_prefix="/example")


@blueprint.get("/notes")
def notes() -> Response:
    settings = current_app.extensions["crm"].plugins.settings("example")
    bodies = db().scalars(select(ExampleNote.body).order_by(ExampleNote.id)).all()
    return jsonify(greeting=settings["greeting"], notes=list(bodies))
