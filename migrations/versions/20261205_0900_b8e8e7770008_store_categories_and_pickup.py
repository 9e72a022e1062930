"""store: item categories, and where and when each community's goods are picked up

Revision ID: b8e8e7770008
Revises: a7d7d6660007
Create Date: 2026-12-05 09:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b8e8e7770008'
down_revision = 'a7d7d6660007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('store_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('category', sa.String(length=16), nullable=True))
    op.create_table('store_settings',
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('pickup_place', sa.String(length=200), nullable=True),
    sa.Column('pickup_hours', sa.String(length=200), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['org_units.id'], name=op.f('fk_store_settings_community_id_org_units')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['staff_accounts.id'], name=op.f('fk_store_settings_updated_by_id_staff_accounts')),
    sa.PrimaryKeyConstraint('community_id', name=op.f('pk_store_settings'))
    )


def downgrade():
    op.drop_table('store_settings')
    with op.batch_alter_table('store_items', schema=None) as batch_op:
        batch_op.drop_column('category')
