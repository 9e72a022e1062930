"""The ledger invariants of DESIGN.md, checked over the whole database (`flask points verify`)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import text

from server.db import db

Check = Callable[[], list[str]]
CHECKS: list[tuple[str, Check]] = []


def check(name: str) -> Callable[[Check], Check]:
    """Register an invariant check; later packages (the store) add theirs."""

    def register(fn: Check) -> Check:
        CHECKS.append((name, fn))
        return fn

    return register


def _rows(sql: str) -> list[tuple[object, ...]]:
    return [tuple(row) for row in db.session.execute(text(sql))]


@check("1 every transaction balances")
def transactions_balance() -> list[str]:
    """Each transaction has two or more entries summing to zero."""
    rows = _rows(
        """SELECT t.id, COALESCE(SUM(e.amount), 0), COUNT(e.id) FROM points_transactions t
           LEFT JOIN points_entries e ON e.transaction_id = t.id GROUP BY t.id
           HAVING COALESCE(SUM(e.amount), 0) <> 0 OR COUNT(e.id) < 2"""
    )
    return [f"transaction {tid}: entries sum to {total} over {count} entries" for tid, total, count in rows]


@check("2 cached balances equal their entries")
def balances_match_entries() -> list[str]:
    """A cached balance equals the sum of the account's entries."""
    rows = _rows(
        """SELECT a.id, a.key, a.balance, COALESCE(SUM(e.amount), 0) FROM points_accounts a
           LEFT JOIN points_entries e ON e.account_id = a.id WHERE a.balance IS NOT NULL
           GROUP BY a.id, a.key, a.balance HAVING a.balance <> COALESCE(SUM(e.amount), 0)"""
    )
    return [
        f"account {key} (id {aid}): balance {bal} but entries sum to {total}" for aid, key, bal, total in rows
    ]


@check("3 user balances are not negative")
def user_balances_not_negative() -> list[str]:
    """No user account below zero."""
    rows = _rows(
        "SELECT key, balance FROM points_accounts WHERE kind IN ('available','held') AND balance < 0"
    )
    return [f"account {key}: negative balance {bal}" for key, bal in rows]


@check("4 held equals unsettled holds")
def held_matches_open_holds() -> list[str]:
    """A user's held balance equals the points of their holds not yet captured or released."""
    rows = _rows(
        """SELECT a.user_id, a.balance, COALESCE(o.open, 0) FROM points_accounts a
           LEFT JOIN (SELECT h.user_id, SUM(h.amount) AS open FROM points_transactions h
                      WHERE h.kind = 'hold'
                        AND NOT EXISTS (SELECT 1 FROM points_transactions s WHERE s.settles_id = h.id)
                      GROUP BY h.user_id) o ON o.user_id = a.user_id
           WHERE a.kind = 'held' AND a.balance <> COALESCE(o.open, 0)"""
    )
    return [f"user {uid}: held {bal} but open holds total {open_}" for uid, bal, open_ in rows]


@check("6 a hold has at most one settlement")
def holds_settled_once() -> list[str]:
    """Captures and releases settle a hold of the same user and amount, once."""
    rows = _rows(
        """SELECT s.id, s.kind, h.id, h.kind, s.user_id, h.user_id, s.amount, h.amount
           FROM points_transactions s JOIN points_transactions h ON h.id = s.settles_id
           WHERE h.kind <> 'hold' OR s.kind NOT IN ('capture','release')
              OR s.user_id <> h.user_id OR s.amount <> h.amount"""
    )
    twice = _rows(
        "SELECT settles_id, COUNT(*) FROM points_transactions WHERE settles_id IS NOT NULL "
        "GROUP BY settles_id HAVING COUNT(*) > 1"
    )
    return [f"transaction {r[0]} ({r[1]}) settles {r[2]} ({r[3]}) wrongly" for r in rows] + [
        f"hold {hid} settled {n} times" for hid, n in twice
    ]


@check("5 reserved stock is within stock and matches waiting requests")
def stock_reservations() -> list[str]:
    """For every item 0 ≤ reserved ≤ stock, and reserved equals the quantity of its waiting requests."""
    rows = _rows(
        """SELECT i.id, i.stock, i.reserved, COALESCE(SUM(r.quantity), 0) FROM store_items i
           LEFT JOIN redemptions r ON r.item_id = i.id AND r.status = 'requested'
           GROUP BY i.id, i.stock, i.reserved
           HAVING i.reserved < 0 OR i.reserved > i.stock OR i.reserved <> COALESCE(SUM(r.quantity), 0)"""
    )
    return [
        f"item {iid}: stock {stock}, reserved {res}, waiting requests {waiting}"
        for iid, stock, res, waiting in rows
    ]


@check("4 a waiting redemption's hold is open; a decided one's is settled")
def redemption_holds() -> list[str]:
    """Held points equal the points of redemptions still waiting for a decision."""
    rows = _rows(
        """SELECT r.id, r.status, (SELECT COUNT(*) FROM points_transactions s WHERE s.settles_id = r.hold_id)
           FROM redemptions r
           WHERE (r.status = 'requested')
               = EXISTS (SELECT 1 FROM points_transactions s WHERE s.settles_id = r.hold_id)"""
    )
    return [f"redemption {rid} is {status} but its hold has {n} settlement(s)" for rid, status, n in rows]


@check("7 reversals undo exactly once")
def reversed_once() -> list[str]:
    """A reversal mirrors the amount of the one transaction it reverses."""
    rows = _rows(
        """SELECT r.id, o.id FROM points_transactions r JOIN points_transactions o ON o.id = r.reverses_id
           WHERE r.kind <> 'reverse' OR r.amount <> o.amount OR r.user_id <> o.user_id"""
    )
    return [f"reversal {rid} does not mirror {oid}" for rid, oid in rows]


@check("leaderboard earnings equal the ledger")
def earnings_match_ledger() -> list[str]:
    """The earnings summary equals what the ledger says was earned per user and community."""
    rows = _rows(
        """WITH earned AS (
             SELECT t.user_id, t.community_id, SUM(e.amount) AS points
             FROM points_transactions t
             JOIN points_entries e ON e.transaction_id = t.id
             JOIN points_accounts a ON a.id = e.account_id AND a.kind = 'available'
             LEFT JOIN points_transactions o ON o.id = t.reverses_id
             WHERE t.kind IN ('award','adjust') OR (t.kind = 'reverse' AND o.kind IN ('award','adjust'))
             GROUP BY t.user_id, t.community_id),
           summary AS (SELECT user_id, community_id, SUM(points) AS points FROM points_earnings
                       GROUP BY user_id, community_id)
           SELECT COALESCE(e.user_id, s.user_id), COALESCE(e.community_id, s.community_id),
                  COALESCE(e.points, 0), COALESCE(s.points, 0)
           FROM earned e FULL OUTER JOIN summary s
             ON s.user_id = e.user_id AND s.community_id = e.community_id
           WHERE COALESCE(e.points, 0) <> COALESCE(s.points, 0)"""
    )
    return [f"user {u} community {c}: ledger earned {e} but summary has {s}" for u, c, e, s in rows]


def verify_ledger() -> list[str]:
    """Every violation of every registered invariant, each naming the invariant."""
    problems: list[str] = []
    for name, fn in CHECKS:
        problems += [f"[{name}] {problem}" for problem in fn()]
    return problems
