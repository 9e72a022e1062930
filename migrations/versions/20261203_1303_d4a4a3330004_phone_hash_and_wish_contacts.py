"""phone lookup by keyed hash; wish contacts shared only when ticked; claim cooldown

Revision ID: d4a4a3330004
Revises: c3f392220003
Create Date: 2026-12-03 13:00:00.000000
"""
import hashlib
import hmac
import re

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'd4a4a3330004'
down_revision = 'c3f392220003'
branch_labels = None
depends_on = None


def _backfill_phone_lookup():
    """users: phone lookup (h2). Fill phone_hash/phone_last4 of existing rows, as server/users/models.py
    computes them, with the app's SECRET_KEY (Flask-Migrate runs in an app context); without an app the
    columns stay NULL and those residents are found by name until their phone is bound again."""
    try:
        from flask import current_app

        secret = str(current_app.config["SECRET_KEY"]).encode()
    except (ImportError, RuntimeError, KeyError):
        return
    key = hashlib.sha256(b"linli-phone:" + secret).digest()
    conn = op.get_bind()
    users = sa.table('users', sa.column('id', sa.Integer), sa.column('phone', sa.String),
                     sa.column('phone_hash', sa.String), sa.column('phone_last4', sa.String))
    rows = conn.execute(sa.select(users.c.id, users.c.phone).where(users.c.phone.is_not(None))).all()
    for user_id, phone in rows:
        digits = re.sub(r"\D", "", phone)
        for country in ("0086", "86"):
            if len(digits) == 11 + len(country) and digits.startswith(country):
                digits = digits[len(country):]
        conn.execute(
            users.update().where(users.c.id == user_id).values(
                phone_hash=hmac.new(key, digits.encode(), hashlib.sha256).hexdigest(),
                phone_last4=digits[-4:] if len(digits) >= 4 else None,
            )
        )


def upgrade():
    # users: phone lookup (h2)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('phone_last4', sa.String(length=4), nullable=True))
        batch_op.create_index(batch_op.f('ix_users_phone_hash'), ['phone_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_users_phone_last4'), ['phone_last4'], unique=False)
    _backfill_phone_lookup()
    # end of users: phone lookup (h2)
    # wishes: claims and contacts (h3)
    with op.batch_alter_table('wish_claims', schema=None) as batch_op:
        batch_op.create_index('ix_wish_claims_user_id_created_at', ['user_id', 'created_at'], unique=False)
    # end of wishes: claims and contacts (h3)


def downgrade():
    # wishes: claims and contacts (h3)
    with op.batch_alter_table('wish_claims', schema=None) as batch_op:
        batch_op.drop_index('ix_wish_claims_user_id_created_at')
    # end of wishes: claims and contacts (h3)
    # users: phone lookup (h2)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_phone_last4'))
        batch_op.drop_index(batch_op.f('ix_users_phone_hash'))
        batch_op.drop_column('phone_last4')
        batch_op.drop_column('phone_hash')
    # end of users: phone lookup (h2)
