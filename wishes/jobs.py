"""Jobs of micro-wishes: claim reminders, claims past their deadline, confirmations left unanswered."""

from __future__ import annotations

from datetime import timedelta

from server import clock
from server.db import db
from server.jobs import each_in_own_transaction, job, periodic
from wishes import services


@periodic("wish_claims", every=timedelta(minutes=15))
@job("low")
def sweep_wish_claims() -> dict[str, int]:
    """Remind claimers a day before their deadline, release claims past it (one transaction each)."""
    now = clock.now()
    to_remind, expired = services.claims_to_remind(now), services.claims_past_deadline(now)
    db.session.commit()
    return {
        "reminded": each_in_own_transaction(to_remind, services.remind_claim, "claim reminder"),
        "released": each_in_own_transaction(expired, services.expire_claim, "claim release"),
    }


@periodic("complete_unconfirmed_wishes", every=timedelta(hours=1))
@job("low")
def complete_unconfirmed_wishes() -> int:
    """Complete fulfilled wishes whose resident did not answer in time; their points wait for staff."""
    due = services.wishes_to_complete(clock.now())
    db.session.commit()
    return each_in_own_transaction(due, services.auto_complete, "auto-completion of wish")
