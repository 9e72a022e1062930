"""phone lookup by keyed hash; wish contacts shared only when ticked; claim cooldown

Revision ID: d4a4a3330004
Revises: c3f392220003
Create Date: 2026-12-03 13:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd4a4a3330004'
down_revision = 'c3f392220003'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
