"""mail archive: messages, their addresses, links to records, attachments

Revision ID: mail_0001
Revises:
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "mail_0001"
down_revision: str | None = None
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def _message_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["message_id"], ["mail_messages.id"], ondelete="CASCADE",
                                   name=op.f(f"fk_{table}_message_id_mail_messages"))


def upgrade() -> None:
    op.create_table(
        "mail_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("from_address", sa.String(length=320), nullable=False),
        sa.Column("to_addresses", sa.JSON(), nullable=False),
        sa.Column("cc_addresses", sa.JSON(), nullable=False),
        sa.Column("date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=False),
        sa.Column("raw_size", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_messages")),
        sa.UniqueConstraint("message_id", name=op.f("uq_mail_messages_message_id")),
    )
    op.create_table(
        "mail_addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=4), nullable=False),
        _message_fk("mail_addresses"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_addresses")),
        sa.UniqueConstraint("message_id", "address", "role",
                            name=op.f("uq_mail_addresses_message_id_address_role")),
    )
    op.create_index(op.f("ix_mail_addresses_address"), "mail_addresses", ["address"])
    op.create_table(
        "mail_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("record_type", sa.String(length=20), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        _message_fk("mail_links"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_links")),
        sa.UniqueConstraint("message_id", "record_type", "record_id",
                            name=op.f("uq_mail_links_message_id_record_type_record_id")),
    )
    op.create_index("ix_mail_links_record", "mail_links", ["record_type", "record_id"])
    op.create_table(
        "mail_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_path", sa.String(length=100), nullable=False),
        _message_fk("mail_attachments"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_attachments")),
    )
    op.create_index(op.f("ix_mail_attachments_message_id"), "mail_attachments", ["message_id"])
    op.create_index(op.f("ix_mail_attachments_sha256"), "mail_attachments", ["sha256"])


def downgrade() -> None:
    op.drop_table("mail_attachments")
    op.drop_table("mail_links")
    op.drop_table("mail_addresses")
    op.drop_table("mail_messages")
