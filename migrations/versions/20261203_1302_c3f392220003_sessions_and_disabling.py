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
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_version', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('disabled_reason', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('disabled_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_users_disabled_by_id_staff_accounts'), 'staff_accounts', ['disabled_by_id'], ['id']
        )
    with op.batch_alter_table('staff_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_version', sa.Integer(), server_default='1', nullable=False))
    # -- console sessions (helper fills below) --
    op.create_table(
        'console_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sid_hash', sa.String(length=64), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('end_reason', sa.String(length=32), nullable=True),
        sa.Column('address', sa.String(length=64), nullable=True),
        sa.Column('user_agent', sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ['staff_id'], ['staff_accounts.id'],
            name=op.f('fk_console_sessions_staff_id_staff_accounts'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_console_sessions')),
        sa.UniqueConstraint('sid_hash', name=op.f('uq_console_sessions_sid_hash')),
    )
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_console_sessions_staff_id'), ['staff_id'], unique=False)
    # -- console sessions (end) --


def downgrade():
    # -- console sessions (helper fills above) --
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_console_sessions_staff_id'))
    op.drop_table('console_sessions')
    # -- console sessions (end) --
    with op.batch_alter_table('staff_accounts', schema=None) as batch_op:
        batch_op.drop_column('token_version')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_users_disabled_by_id_staff_accounts'), type_='foreignkey')
        batch_op.drop_column('disabled_by_id')
        batch_op.drop_column('disabled_reason')
        batch_op.drop_column('disabled_at')
        batch_op.drop_column('token_version')
