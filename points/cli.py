"""`flask --app wsgi points ...`: verify the ledger, expire points, rebuild the leaderboard summary."""

from __future__ import annotations

from datetime import date

import click
from flask.cli import with_appcontext

from points.services import expire_user_points, users_with_points
from points.services import rebuild_earnings as rebuild
from server.db import db

points_group = click.Group("points", help="The points ledger.")


def expire_points(as_of: date | None = None) -> dict[str, int]:
    """Apply the expiry policy to every user with points, one transaction per user."""
    counts = {"users": 0, "expired_points": 0}
    for user_id in users_with_points():
        result = expire_user_points(user_id, as_of)
        if result.status == "refused" and result.code == "EXPIRY_DISABLED":
            db.session.rollback()
            break
        db.session.commit()
        if result.moved:
            counts["users"] += 1
            counts["expired_points"] += result.points
    return counts


@points_group.command("verify")
@with_appcontext
def verify() -> None:
    """Check the ledger invariants of DESIGN.md; exit 1 naming each violation."""
    from points.verify import CHECKS, verify_ledger

    problems = verify_ledger()
    db.session.rollback()
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"{len(problems)} violation(s)")
    click.echo(f"ledger ok: {len(CHECKS)} invariants hold")


@points_group.command("expire")
@click.option(
    "--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="Pretend today is this day"
)
@with_appcontext
def expire(as_of: object) -> None:
    """Apply the expiry policy (POINTS_EXPIRY_POLICY); running it twice expires nothing twice."""
    day = as_of.date() if hasattr(as_of, "date") else None
    counts = expire_points(day if isinstance(day, date) else None)
    click.echo(f"expired {counts['expired_points']} points of {counts['users']} users")


@points_group.command("rebuild-earnings")
@with_appcontext
def rebuild_earnings() -> None:
    """Recompute the leaderboard summary from the ledger."""
    rows = rebuild()
    db.session.commit()
    click.echo(f"rebuilt {rows} earnings rows")
