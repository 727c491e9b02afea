"""Portal user accounts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``portal_users``."""
    op.create_table(
        "portal_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("ruc", sa.String(13), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("lang", sa.String(2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_portal_users"),
        sa.UniqueConstraint("username", name="uq_portal_users_username"),
    )
    op.create_index("ix_portal_users_ruc", "portal_users", ["ruc"])


def downgrade() -> None:
    """Drop ``portal_users``."""
    op.drop_index("ix_portal_users_ruc", table_name="portal_users")
    op.drop_table("portal_users")
