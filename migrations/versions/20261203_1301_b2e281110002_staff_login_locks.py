"""staff logins: locks per username and address, one-time unlock codes

Revision ID: b2e281110002
Revises: a1d170000001
Create Date: 2026-12-03 13:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b2e281110002'
down_revision = 'a1d170000001'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
