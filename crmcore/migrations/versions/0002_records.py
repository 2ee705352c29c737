"""leads, contacts, stages, email keys and the timeline

Revision ID: core_0002
Revises: core_0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0002"
down_revision: str | None = "core_0001"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

DEFAULT_STAGES = [
    ("New", 10, "open"),
    ("Contacted", 20, "open"),
    ("Qualified", 30, "open"),
    ("Won", 40, "won"),
    ("Lost", 50, "lost"),
]


def upgrade() -> None:
    op.create_table(
        "email_keys",
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("record_type", sa.String(length=20), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_email_keys")),
    )
    op.create_table(
        "lead_stages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_stages")),
        sa.UniqueConstraint("name", name=op.f("uq_lead_stages_name")),
    )
    op.create_table(
        "contacts",
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("street", sa.String(length=200), nullable=False),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("postal_code", sa.String(length=20), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("lifecycle_stage", sa.String(length=20), nullable=False),
        sa.Column("opt_outs", sa.JSON(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("emails", sa.JSON(), nullable=False),
        sa.Column("email_key", sa.String(length=254), nullable=True),
        sa.Column("phones", sa.JSON(), nullable=False),
        sa.Column("phone_key", sa.String(length=20), nullable=True),
        sa.Column("company", sa.String(length=200), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("custom", sa.JSON(), nullable=False),
        sa.Column("plugin_data", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_contacts_owner_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
    )
    op.create_index(op.f("ix_contacts_deleted_at"), "contacts", ["deleted_at"], unique=False)
    op.create_index(op.f("ix_contacts_email_key"), "contacts", ["email_key"], unique=False)
    op.create_index(op.f("ix_contacts_name_key"), "contacts", ["name_key"], unique=False)
    op.create_index(
        "ix_contacts_owner_created", "contacts", ["owner_id", "created_at", "id"], unique=False
    )
    op.create_index(op.f("ix_contacts_owner_id"), "contacts", ["owner_id"], unique=False)
    op.create_index(op.f("ix_contacts_phone_key"), "contacts", ["phone_key"], unique=False)
    op.create_index(op.f("ix_contacts_postal_code"), "contacts", ["postal_code"], unique=False)
    op.create_table(
        "timeline_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_type", sa.String(length=20), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_timeline_entries_actor_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timeline_entries")),
    )
    op.create_index(
        "ix_timeline_record", "timeline_entries", ["record_type", "record_id", "id"], unique=False
    )
    op.create_table(
        "leads",
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("login", sa.String(length=100), nullable=False),
        sa.Column("partner", sa.String(length=200), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("last_contacted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("converted_contact_id", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("emails", sa.JSON(), nullable=False),
        sa.Column("email_key", sa.String(length=254), nullable=True),
        sa.Column("phones", sa.JSON(), nullable=False),
        sa.Column("phone_key", sa.String(length=20), nullable=True),
        sa.Column("company", sa.String(length=200), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("custom", sa.JSON(), nullable=False),
        sa.Column("plugin_data", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["converted_contact_id"],
            ["contacts.id"],
            name=op.f("fk_leads_converted_contact_id_contacts"),
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_leads_owner_id_users")),
        sa.ForeignKeyConstraint(
            ["stage_id"], ["lead_stages.id"], name=op.f("fk_leads_stage_id_lead_stages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leads")),
    )
    op.create_index(op.f("ix_leads_deleted_at"), "leads", ["deleted_at"], unique=False)
    op.create_index(op.f("ix_leads_email_key"), "leads", ["email_key"], unique=False)
    op.create_index(op.f("ix_leads_name_key"), "leads", ["name_key"], unique=False)
    op.create_index(
        "ix_leads_owner_created", "leads", ["owner_id", "created_at", "id"], unique=False
    )
    op.create_index(op.f("ix_leads_owner_id"), "leads", ["owner_id"], unique=False)
    op.create_index(op.f("ix_leads_phone_key"), "leads", ["phone_key"], unique=False)
    op.create_index(op.f("ix_leads_source"), "leads", ["source"], unique=False)
    op.create_index(op.f("ix_leads_stage_id"), "leads", ["stage_id"], unique=False)
    stages = sa.table(
        "lead_stages",
        sa.column("name", sa.String),
        sa.column("position", sa.Integer),
        sa.column("kind", sa.String),
    )
    op.bulk_insert(stages, [{"name": n, "position": p, "kind": k} for n, p, k in DEFAULT_STAGES])


def downgrade() -> None:
    for table in ("leads", "timeline_entries", "contacts", "lead_stages", "email_keys"):
        op.drop_table(table)
