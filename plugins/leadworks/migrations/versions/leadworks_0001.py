"""leadworks: advertisers, members, keys, invitations, submissions, refusals,
idempotency, owner rule, uploads

Revision ID: leadworks_0001
Revises:
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "leadworks_0001"
down_revision: str | None = None
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leadworks_advertisers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("contact_email", sa.String(length=254), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leadworks_advertisers")),
        sa.UniqueConstraint("name", name=op.f("uq_leadworks_advertisers_name")),
    )
    op.create_table(
        "leadworks_owner_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=12), nullable=False),
        sa.Column("user_ids", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leadworks_owner_rules")),
    )
    op.create_table(
        "leadworks_api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("advertiser_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["advertiser_id"],
            ["leadworks_advertisers.id"],
            name=op.f("fk_leadworks_api_keys_advertiser_id_leadworks_advertisers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leadworks_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_leadworks_api_keys_key_hash")),
    )
    op.create_index(
        op.f("ix_leadworks_api_keys_advertiser_id"),
        "leadworks_api_keys",
        ["advertiser_id"],
        unique=False,
    )
    op.create_table(
        "leadworks_idempotency",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("advertiser_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["advertiser_id"],
            ["leadworks_advertisers.id"],
            name=op.f("fk_leadworks_idempotency_advertiser_id_leadworks_advertisers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leadworks_idempotency")),
        sa.UniqueConstraint("advertiser_id", "key", name="uq_leadworks_idempotency_key"),
    )
    op.create_table(
        "leadworks_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("advertiser_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["advertiser_id"],
            ["leadworks_advertisers.id"],
            name=op.f("fk_leadworks_invitations_advertiser_id_leadworks_advertisers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_leadworks_invitations_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_leadworks_invitations_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leadworks_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_leadworks_invitations_token_hash")),
    )
    op.create_index(
        op.f("ix_leadworks_invitations_advertiser_id"),
        "leadworks_invitations",
        ["advertiser_id"],
        unique=False,
    )
    op.create_table(
        "leadworks_members",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("advertiser_id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["advertiser_id"],
            ["leadworks_advertisers.id"],
            name=op.f("fk_leadworks_members_advertiser_id_leadworks_advertisers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_leadworks_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_leadworks_members")),
    )
    op.create_index(
        op.f("ix_leadworks_members_advertiser_id"),
        "leadworks_members",
        ["advertiser_id"],
        unique=False,
    )
    op.create_table(
        "leadworks_refusals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("advertiser_id", sa.Integer(), nullable=False),
        sa.Column("campaign", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["advertiser_id"],
            ["leadworks_advertisers.id"],
            name=op.f("fk_leadworks_refusals_advertiser_id_leadworks_advertisers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leadworks_refusals")),
    )
    op.create_index(
        "ix_leadworks_refusals_adv_at",
        "leadworks_refusals",
        ["advertiser_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "leadworks_uploads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("advertiser_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("campaign", sa.String(length=100), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("all_or_nothing", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["advertiser_id"],
            ["leadworks_advertisers.id"],
            name=op.f("fk_leadworks_uploads_advertiser_id_leadworks_advertisers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_leadworks_uploads_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leadworks_uploads")),
        sa.UniqueConstraint("job_id", name=op.f("uq_leadworks_uploads_job_id")),
    )
    op.create_index(
        op.f("ix_leadworks_uploads_advertiser_id"),
        "leadworks_uploads",
        ["advertiser_id"],
        unique=False,
    )
    op.create_table(
        "leadworks_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("advertiser_id", sa.Integer(), nullable=False),
        sa.Column("campaign", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["advertiser_id"],
            ["leadworks_advertisers.id"],
            name=op.f("fk_leadworks_submissions_advertiser_id_leadworks_advertisers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["leadworks_api_keys.id"],
            name=op.f("fk_leadworks_submissions_api_key_id_leadworks_api_keys"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_leadworks_submissions_lead_id_leads"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_leadworks_submissions_owner_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_leadworks_submissions_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leadworks_submissions")),
        sa.UniqueConstraint("lead_id", name=op.f("uq_leadworks_submissions_lead_id")),
    )
    op.create_index(
        "ix_leadworks_submissions_adv_at",
        "leadworks_submissions",
        ["advertiser_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("leadworks_submissions")
    op.drop_table("leadworks_uploads")
    op.drop_table("leadworks_refusals")
    op.drop_table("leadworks_members")
    op.drop_table("leadworks_invitations")
    op.drop_table("leadworks_idempotency")
    op.drop_table("leadworks_api_keys")
    op.drop_table("leadworks_owner_rules")
    op.drop_table("leadworks_advertisers")
