"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from __future__ import annotations

from aspects_schema import Settings, execute

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade(settings: Settings) -> None:
    # Every statement: names from settings, IF NOT EXISTS, settings.on_cluster, and
    # settings.engine("...MergeTree") for tables (see README.md).
    pass


def downgrade(settings: Settings) -> None:
    pass
