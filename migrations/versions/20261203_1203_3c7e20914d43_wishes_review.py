"""wishes review: a resident's dispute, and the claimer's points as an award staff may have to approve

Revision ID: 3c7e20914d43
Revises: 4d8f31a25e54
Create Date: 2026-12-03 12:00:00.000000

A fulfilled wish can be disputed (status ``disputed``, with the resident's reason) and is then decided by
staff. Each completed wish gets one row in ``wish_awards``: paid at once, or waiting for staff (待确认积分),
refused with a code or rejected with a reason. Wishes completed before this revision get the row of what
happened to them (paid, or refused with their ``award_code``), so the pair limit sees their history.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3c7e20914d43'
down_revision = '4d8f31a25e54'
branch_labels = None
depends_on = None

OLD_STATUSES = "'pending_review', 'open', 'claimed', 'fulfilled', 'completed', 'rejected', 'cancelled'"
NEW_STATUSES = (
    "'pending_review', 'open', 'claimed', 'fulfilled', 'disputed', 'completed', 'rejected', 'cancelled'"
)
OLD_HELD = "'claimed', 'fulfilled', 'completed'"
NEW_HELD = "'claimed', 'fulfilled', 'disputed', 'completed'"


def upgrade():
    with op.batch_alter_table('wishes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disputed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('dispute_reason', sa.String(length=255), nullable=True))
        batch_op.drop_constraint(op.f('ck_wishes_status'), type_='check')
        batch_op.drop_constraint(op.f('ck_wishes_claimer_state'), type_='check')
        batch_op.create_check_constraint('status', f"status IN ({NEW_STATUSES})")
        batch_op.create_check_constraint(
            'claimer_state', f"(claimer_id IS NOT NULL) = (status IN ({NEW_HELD}))"
        )

    op.create_table('wish_awards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('wish_id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('claimer_id', sa.Integer(), nullable=False),
    sa.Column('cause', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=True),
    sa.Column('points', sa.Integer(), nullable=True),
    sa.Column('transaction_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('reject_reason', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'paid', 'refused', 'rejected')", name=op.f('ck_wish_awards_status')),
    sa.CheckConstraint("cause IN ('confirmed', 'low_rating', 'timeout', 'staff')", name=op.f('ck_wish_awards_cause')),
    sa.CheckConstraint("(status = 'pending') = (decided_at IS NULL)", name=op.f('ck_wish_awards_decided')),
    sa.CheckConstraint("(status = 'paid') = (transaction_id IS NOT NULL)", name=op.f('ck_wish_awards_paid')),
    sa.CheckConstraint("(status = 'rejected') = (reject_reason IS NOT NULL)", name=op.f('ck_wish_awards_rejected')),
    sa.ForeignKeyConstraint(['claimer_id'], ['users.id'], name=op.f('fk_wish_awards_claimer_id_users')),
    sa.ForeignKeyConstraint(['community_id'], ['org_units.id'], name=op.f('fk_wish_awards_community_id_org_units')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['staff_accounts.id'], name=op.f('fk_wish_awards_decided_by_id_staff_accounts')),
    sa.ForeignKeyConstraint(['resident_id'], ['users.id'], name=op.f('fk_wish_awards_resident_id_users')),
    sa.ForeignKeyConstraint(['wish_id'], ['wishes.id'], name=op.f('fk_wish_awards_wish_id_wishes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wish_awards')),
    sa.UniqueConstraint('wish_id', name=op.f('uq_wish_awards_wish_id'))
    )
    with op.batch_alter_table('wish_awards', schema=None) as batch_op:
        batch_op.create_index('ix_wish_awards_claimer_id_resident_id_status', ['claimer_id', 'resident_id', 'status'], unique=False)
        batch_op.create_index('ix_wish_awards_community_id_status_id', ['community_id', 'status', 'id'], unique=False)

    # What happened to the wishes completed so far: paid, or refused with the code kept on the wish.
    op.execute(
        """
        INSERT INTO wish_awards (wish_id, community_id, resident_id, claimer_id, cause, status, code, points,
                                 transaction_id, decided_at, created_at)
        SELECT id, community_id, user_id, claimer_id,
               CASE WHEN completed_by = 'timeout' THEN 'timeout' ELSE 'confirmed' END,
               CASE WHEN award_transaction_id IS NOT NULL THEN 'paid' ELSE 'refused' END,
               CASE WHEN award_transaction_id IS NULL THEN COALESCE(award_code, 'NOT_AWARDED') END,
               award_points, award_transaction_id,
               COALESCE(completed_at, created_at), COALESCE(completed_at, created_at)
        FROM wishes
        WHERE status = 'completed' AND claimer_id IS NOT NULL
        """
    )


def downgrade():
    with op.batch_alter_table('wish_awards', schema=None) as batch_op:
        batch_op.drop_index('ix_wish_awards_community_id_status_id')
        batch_op.drop_index('ix_wish_awards_claimer_id_resident_id_status')

    op.drop_table('wish_awards')
    # A disputed wish goes back to waiting for the resident's answer, the state it was disputed in.
    op.execute("UPDATE wishes SET status = 'fulfilled' WHERE status = 'disputed'")
    with op.batch_alter_table('wishes', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_wishes_claimer_state'), type_='check')
        batch_op.drop_constraint(op.f('ck_wishes_status'), type_='check')
        batch_op.create_check_constraint('status', f"status IN ({OLD_STATUSES})")
        batch_op.create_check_constraint(
            'claimer_state', f"(claimer_id IS NOT NULL) = (status IN ({OLD_HELD}))"
        )
        batch_op.drop_column('dispute_reason')
        batch_op.drop_column('disputed_at')
