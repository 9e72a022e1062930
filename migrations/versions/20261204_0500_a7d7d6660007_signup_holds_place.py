"""sign-ups remember whether they took a place

Revision ID: a7d7d6660007
Revises: f6c6c5550006
Create Date: 2026-12-04 05:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7d7d6660007'
down_revision = 'f6c6c5550006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('activity_signups') as batch_op:
        batch_op.add_column(
            sa.Column('holds_place', sa.Boolean(), server_default=sa.text('false'), nullable=False)
        )
    # Sign-ups of before took a place exactly when their activity required sign-up.
    op.execute(
        "UPDATE activity_signups SET holds_place = true WHERE activity_id IN "
        "(SELECT id FROM activities WHERE signup_required)"
    )


def downgrade():
    with op.batch_alter_table('activity_signups') as batch_op:
        batch_op.drop_column('holds_place')
