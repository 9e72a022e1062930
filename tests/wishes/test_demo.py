"""The demo: wishes in every state, seeded once."""

from sqlalchemy import select

from points.verify import verify_ledger
from server.db import db
from server.seed import seed_demo_data
from wishes.demo import DEMO_WISHES
from wishes.models import WISH_STATUSES, Wish


def test_seed_demo_adds_wishes_in_every_state_once(app):
    with app.app_context():
        seed_demo_data()
        db.session.commit()
        seed_demo_data()
        db.session.commit()
        statuses = list(db.session.scalars(select(Wish.status)))
        assert len(statuses) == len(DEMO_WISHES)  # the second run added nothing
        assert set(statuses) == set(WISH_STATUSES)
        completed = db.session.scalars(select(Wish).where(Wish.status == "completed")).one()
        assert completed.award_points == 5 and completed.story_consent
        assert verify_ledger() == []
