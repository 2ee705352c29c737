"""The floor for the API benchmark: bare Flask + SQLAlchemy + marshmallow serving
the same page of 50 leads from the same database, with nothing of crmcore.

    BENCH_DATABASE_URL=sqlite:///... gunicorn -w 2 bench.bare_api:app
"""

from __future__ import annotations

import os
from datetime import datetime

from flask import Flask, jsonify, request
from marshmallow import Schema, fields
from sqlalchemy import JSON, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Lead(Base):
    """The same table, mapped by hand: the same columns are read and dumped."""

    __tablename__ = "leads"

    id: Mapped[int] = mapped_column(primary_key=True)
    full_name: Mapped[str]
    login: Mapped[str]
    partner: Mapped[str]
    location: Mapped[str]
    source: Mapped[str]
    score: Mapped[int]
    stage_id: Mapped[int]
    owner_id: Mapped[int | None]
    converted_contact_id: Mapped[int | None]
    emails: Mapped[list[str]] = mapped_column(JSON)
    phones: Mapped[list[str]] = mapped_column(JSON)
    tags: Mapped[list[str]] = mapped_column(JSON)
    custom: Mapped[dict] = mapped_column(JSON)
    plugin_data: Mapped[dict] = mapped_column(JSON)
    company: Mapped[str]
    version: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    last_contacted_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]


class LeadSchema(Schema):
    id = fields.Integer()
    full_name = fields.String()
    login = fields.String()
    partner = fields.String()
    location = fields.String()
    source = fields.String()
    score = fields.Integer()
    stage_id = fields.Integer()
    owner_id = fields.Integer(allow_none=True)
    converted_contact_id = fields.Integer(allow_none=True)
    emails = fields.List(fields.String())
    phones = fields.List(fields.String())
    tags = fields.List(fields.String())
    custom = fields.Dict()
    plugin_data = fields.Dict()
    company = fields.String()
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    last_contacted_at = fields.DateTime(allow_none=True)
    deleted_at = fields.DateTime(allow_none=True)


engine = create_engine(os.environ["BENCH_DATABASE_URL"])
app = Flask(__name__)


@app.get("/leads")
def leads():  # noqa: ANN201
    limit = int(request.args.get("limit", 50))
    with Session(engine) as session:
        rows = session.scalars(select(Lead).where(Lead.deleted_at.is_(None))
                               .order_by(Lead.created_at.desc(), Lead.id.desc())
                               .limit(limit)).all()
        return jsonify(items=LeadSchema(many=True).dump(rows))
