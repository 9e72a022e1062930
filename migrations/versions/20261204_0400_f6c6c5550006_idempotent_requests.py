"""idempotent requests

Revision ID: f6c6c5550006
Revises: e5b5b4440005
Create Date: 2026-12-04 04:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f6c6c5550006'
down_revision = 'e5b5b4440005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'idempotent_requests',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('scope', sa.String(length=120), nullable=False),
        sa.Column('key', sa.String(length=100), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('status_code', sa.SmallInteger(), nullable=True),
        sa.Column('response', sa.JSON(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotent_requests')),
        sa.UniqueConstraint('scope', 'key', name=op.f('uq_idempotent_requests_scope_key')),
    )
    op.create_index(op.f('ix_idempotent_requests_created_at'), 'idempotent_requests', ['created_at'])
    # The desk that handed the goods out, so its resent 核销 is answered as done (not PICKUP_CODE_USED).
    with op.batch_alter_table('redemptions') as batch_op:
        batch_op.add_column(sa.Column('picked_up_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f('fk_redemptions_picked_up_by_id_staff_accounts'), 'staff_accounts', ['picked_up_by_id'], ['id']
        )


def downgrade():
    with op.batch_alter_table('redemptions') as batch_op:
        batch_op.drop_constraint(op.f('fk_redemptions_picked_up_by_id_staff_accounts'), type_='foreignkey')
        batch_op.drop_column('picked_up_by_id')
    op.drop_index(op.f('ix_idempotent_requests_created_at'), table_name='idempotent_requests')
    op.drop_table('idempotent_requests')
