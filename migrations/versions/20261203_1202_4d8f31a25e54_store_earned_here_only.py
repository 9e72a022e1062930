"""store: items only points earned in their community buy (earned_here_only)

Revision ID: 4d8f31a25e54
Revises: 2b6d1f803c32
Create Date: 2026-12-03 12:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '4d8f31a25e54'
down_revision = '2b6d1f803c32'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('store_items', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('earned_here_only', sa.Boolean(), nullable=False, server_default=sa.text('false'))
        )


def downgrade():
    with op.batch_alter_table('store_items', schema=None) as batch_op:
        batch_op.drop_column('earned_here_only')
