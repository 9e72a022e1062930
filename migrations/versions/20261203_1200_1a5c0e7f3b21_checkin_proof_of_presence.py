"""checkin: proof of presence (signed printed codes, who may check in, attribution, voiding)

Revision ID: 1a5c0e7f3b21
Revises: c53402d9990a
Create Date: 2026-12-03 12:00:00.000000

Printed codes were unsigned and accepted everywhere; they become opt-in (off for every existing place)
and versioned. Check-ins get the staff account that recorded them, the last proven moment and a void.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '1a5c0e7f3b21'
down_revision = 'c53402d9990a'
branch_labels = None
depends_on = None

FALSE = sa.text("false")


def upgrade():
    with op.batch_alter_table('stations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('printed_code_allowed', sa.Boolean(), server_default=FALSE, nullable=False))
        batch_op.add_column(sa.Column('printed_version', sa.Integer(), server_default=sa.text("1"), nullable=False))
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('printed_code_allowed', sa.Boolean(), server_default=FALSE, nullable=False))
        batch_op.add_column(sa.Column('printed_version', sa.Integer(), server_default=sa.text("1"), nullable=False))
        batch_op.add_column(sa.Column('members_only', sa.Boolean(), server_default=FALSE, nullable=False))
        batch_op.add_column(sa.Column('open_to_all', sa.Boolean(), server_default=FALSE, nullable=False))
    with op.batch_alter_table('checkins', schema=None) as batch_op:
        batch_op.add_column(sa.Column('staff_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('proven_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('voided_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('void_reason', sa.String(length=200), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_checkins_staff_id_staff_accounts'), 'staff_accounts', ['staff_id'], ['id']
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_checkins_voided_by_id_staff_accounts'), 'staff_accounts', ['voided_by_id'], ['id']
        )
        batch_op.drop_constraint(batch_op.f('ck_checkins_status'), type_='check')
        batch_op.create_check_constraint('status', "status IN ('open','closed','auto_closed','voided')")
        batch_op.create_check_constraint('source', "source IN ('scan','printed','staff','batch')")
    op.execute("UPDATE checkins SET proven_at = checked_in_at")
    with op.batch_alter_table('checkin_batch_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('staff_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_checkin_batch_items_staff_id_staff_accounts'), 'staff_accounts', ['staff_id'], ['id']
        )


def downgrade():
    with op.batch_alter_table('checkin_batch_items', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_checkin_batch_items_staff_id_staff_accounts'), type_='foreignkey')
        batch_op.drop_column('staff_id')
    op.execute("UPDATE checkins SET status = 'closed' WHERE status = 'voided'")
    with op.batch_alter_table('checkins', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_checkins_source'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_checkins_status'), type_='check')
        batch_op.create_check_constraint('status', "status IN ('open','closed','auto_closed')")
        batch_op.drop_constraint(batch_op.f('fk_checkins_voided_by_id_staff_accounts'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_checkins_staff_id_staff_accounts'), type_='foreignkey')
        batch_op.drop_column('void_reason')
        batch_op.drop_column('voided_by_id')
        batch_op.drop_column('voided_at')
        batch_op.drop_column('proven_at')
        batch_op.drop_column('staff_id')
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_column('open_to_all')
        batch_op.drop_column('members_only')
        batch_op.drop_column('printed_version')
        batch_op.drop_column('printed_code_allowed')
    with op.batch_alter_table('stations', schema=None) as batch_op:
        batch_op.drop_column('printed_version')
        batch_op.drop_column('printed_code_allowed')
