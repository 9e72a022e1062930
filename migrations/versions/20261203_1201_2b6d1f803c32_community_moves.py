"""community moves: a resident's community changes only by a move the new community's staff approve

Revision ID: 2b6d1f803c32
Revises: 1a5c0e7f3b21
Create Date: 2026-12-03 12:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '2b6d1f803c32'
down_revision = '1a5c0e7f3b21'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('community_moves',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('from_community_id', sa.Integer(), nullable=True),
    sa.Column('to_community_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_reason', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'approved', 'rejected', 'cancelled')", name=op.f('ck_community_moves_status')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['staff_accounts.id'], name=op.f('fk_community_moves_decided_by_id_staff_accounts')),
    sa.ForeignKeyConstraint(['from_community_id'], ['org_units.id'], name=op.f('fk_community_moves_from_community_id_org_units')),
    sa.ForeignKeyConstraint(['to_community_id'], ['org_units.id'], name=op.f('fk_community_moves_to_community_id_org_units')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_community_moves_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_community_moves'))
    )
    with op.batch_alter_table('community_moves', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_community_moves_to_community_id'), ['to_community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_community_moves_user_id'), ['user_id'], unique=False)
        batch_op.create_index('uq_community_moves_user_id_pending', ['user_id'], unique=True, postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))


def downgrade():
    with op.batch_alter_table('community_moves', schema=None) as batch_op:
        batch_op.drop_index('uq_community_moves_user_id_pending', postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
        batch_op.drop_index(batch_op.f('ix_community_moves_user_id'))
        batch_op.drop_index(batch_op.f('ix_community_moves_to_community_id'))

    op.drop_table('community_moves')
