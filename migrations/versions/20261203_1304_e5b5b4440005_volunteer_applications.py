"""volunteer applications: residents apply, staff accept

Revision ID: e5b5b4440005
Revises: d4a4a3330004
Create Date: 2026-12-03 13:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5b5b4440005'
down_revision = 'd4a4a3330004'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
