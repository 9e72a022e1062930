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
        assert set(statuses) == set(WISH_STATUSES)  # disputed too
        confirmed = db.session.scalars(select(Wish).where(Wish.completed_by == "resident")).one()
        assert confirmed.award is not None and confirmed.award.status == "paid"
        assert confirmed.award_points == 5 and confirmed.story_consent
        timed_out = db.session.scalars(select(Wish).where(Wish.completed_by == "timeout")).one()
        assert timed_out.award is not None and timed_out.award.status == "pending"  # waits for staff
        assert timed_out.award_points is None
        assert timed_out.user_id != confirmed.user_id  # so approving it is not refused by the pair limit
        assert verify_ledger() == []
