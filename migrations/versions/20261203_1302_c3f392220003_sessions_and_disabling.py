"""sessions the server can end: console sessions, token versions, disabled residents

Revision ID: c3f392220003
Revises: b2e281110002
Create Date: 2026-12-03 13:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c3f392220003'
down_revision = 'b2e281110002'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
