"""Jobs of micro-wishes: claim reminders, claims past their deadline, confirmations left unanswered."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from server.db import db, utcnow
from server.jobs import job, periodic
from wishes import services

log = logging.getLogger(__name__)


def _each(ids: list[int], step: Callable[[int], bool], what: str) -> int:
    """Run ``step`` on each id in its own transaction; a failing item is logged and does not stop the rest."""
    done = 0
    for item_id in ids:
        try:
            done += step(item_id)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("%s %s failed; it stays due for the next run", what, item_id)
    return done


@periodic("wish_claims", every=timedelta(minutes=15))
@job("low")
def sweep_wish_claims() -> dict[str, int]:
    """Remind claimers a day before their deadline, release claims past it (one transaction each)."""
    now = utcnow()
    to_remind, expired = services.claims_to_remind(now), services.claims_past_deadline(now)
    db.session.commit()
    return {
        "reminded": _each(to_remind, services.remind_claim, "claim reminder"),
        "released": _each(expired, services.expire_claim, "claim release"),
    }


@periodic("complete_unconfirmed_wishes", every=timedelta(hours=1))
@job("low")
def complete_unconfirmed_wishes() -> int:
    """Complete fulfilled wishes whose resident did not answer in time; the claimer earns the points."""
    due = services.wishes_to_complete(utcnow())
    db.session.commit()
    return _each(due, services.auto_complete, "auto-completion of wish")
