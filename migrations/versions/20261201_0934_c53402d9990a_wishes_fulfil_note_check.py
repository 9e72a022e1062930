"""wishes: the content check's verdict on the fulfilment note, like the comment's

Revision ID: c53402d9990a
Revises: 7b2520bb9d44
Create Date: 2026-12-01 09:00:00.000000

Notes written before this revision were checked (risky ones refused) but a "review" verdict was not
kept: they are marked "unchecked", so they stay out of public view like any note staff have not seen.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c53402d9990a'
down_revision = '7b2520bb9d44'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('wishes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fulfil_note_check', sa.String(length=16), nullable=True))
    op.execute("UPDATE wishes SET fulfil_note_check = 'unchecked' WHERE fulfil_note IS NOT NULL")


def downgrade():
    with op.batch_alter_table('wishes', schema=None) as batch_op:
        batch_op.drop_column('fulfil_note_check')
