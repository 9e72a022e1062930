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
    op.create_table(
        'volunteer_applications',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.Column('note', sa.String(length=200), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('decided_by_id', sa.Integer(), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('decision_reason', sa.String(length=255), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'declined', 'withdrawn')",
            name=op.f('ck_volunteer_applications_status'),
        ),
        sa.ForeignKeyConstraint(
            ['community_id'], ['org_units.id'], name=op.f('fk_volunteer_applications_community_id_org_units')
        ),
        sa.ForeignKeyConstraint(
            ['decided_by_id'], ['staff_accounts.id'],
            name=op.f('fk_volunteer_applications_decided_by_id_staff_accounts'),
        ),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_volunteer_applications_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_volunteer_applications')),
    )
    with op.batch_alter_table('volunteer_applications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_volunteer_applications_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_volunteer_applications_user_id'), ['user_id'], unique=False)
        batch_op.create_index(
            'uq_volunteer_applications_user_id_pending',
            ['user_id'],
            unique=True,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )


def downgrade():
    with op.batch_alter_table('volunteer_applications', schema=None) as batch_op:
        batch_op.drop_index('uq_volunteer_applications_user_id_pending')
        batch_op.drop_index(batch_op.f('ix_volunteer_applications_user_id'))
        batch_op.drop_index(batch_op.f('ix_volunteer_applications_community_id'))
    op.drop_table('volunteer_applications')
