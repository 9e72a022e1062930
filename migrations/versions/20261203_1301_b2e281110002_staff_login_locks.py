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
    with op.batch_alter_table('staff_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failures_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column('unlock_required', sa.Boolean(), server_default=sa.text('false'), nullable=False)
        )
    op.create_table(
        'staff_login_locks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=False),
        sa.Column('address', sa.String(length=64), nullable=False),
        sa.Column('failed_logins', sa.Integer(), nullable=False),
        sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['staff_id'], ['staff_accounts.id'],
            name=op.f('fk_staff_login_locks_staff_id_staff_accounts'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_login_locks')),
        sa.UniqueConstraint('staff_id', 'address', name=op.f('uq_staff_login_locks_staff_id_address')),
    )
    op.create_table(
        'staff_unlock_codes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['created_by_id'], ['staff_accounts.id'],
            name=op.f('fk_staff_unlock_codes_created_by_id_staff_accounts'),
        ),
        sa.ForeignKeyConstraint(
            ['staff_id'], ['staff_accounts.id'],
            name=op.f('fk_staff_unlock_codes_staff_id_staff_accounts'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_unlock_codes')),
        sa.UniqueConstraint('code_hash', name=op.f('uq_staff_unlock_codes_code_hash')),
    )
    with op.batch_alter_table('staff_unlock_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_unlock_codes_staff_id'), ['staff_id'], unique=False)


def downgrade():
    with op.batch_alter_table('staff_unlock_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_unlock_codes_staff_id'))
    op.drop_table('staff_unlock_codes')
    op.drop_table('staff_login_locks')
    with op.batch_alter_table('staff_accounts', schema=None) as batch_op:
        batch_op.drop_column('unlock_required')
        batch_op.drop_column('failures_since')
