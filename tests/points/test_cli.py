"""`flask points verify | expire | rebuild-earnings`."""

from sqlalchemy import text

from points import services
from server.db import db


def test_verify_passes_on_a_sound_ledger_and_names_violations(app, make_member):
    user = make_member()
    runner = app.test_cli_runner()
    with app.app_context():
        services.award(user, "PARTY_DAY", 1, ("test", 1), "k1")
        db.session.commit()
    ok = runner.invoke(args=["points", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "ledger ok" in ok.output
    with app.app_context():
        # break invariant 2 behind the ledger's back (the CHECK allows a wrong but positive balance)
        db.session.execute(text("UPDATE points_accounts SET balance = balance + 1 WHERE kind = 'available'"))
        db.session.commit()
    broken = runner.invoke(args=["points", "verify"])
    assert broken.exit_code == 1
    assert "[2 cached balances equal their entries]" in broken.output
    assert "1 violation(s)" in broken.output
    with app.app_context():
        db.session.execute(text("UPDATE points_accounts SET balance = balance - 1 WHERE kind = 'available'"))
        db.session.commit()


def test_rebuild_earnings_restores_the_leaderboard_summary(app, make_member):
    user = make_member()
    runner = app.test_cli_runner()
    with app.app_context():
        services.award(user, "VOLUNTEER_HOUR", 2, ("test", 1), "k1")
        db.session.execute(text("DELETE FROM points_earnings"))
        db.session.commit()
    assert runner.invoke(args=["points", "verify"]).exit_code == 1
    rebuilt = runner.invoke(args=["points", "rebuild-earnings"])
    assert rebuilt.exit_code == 0 and "rebuilt 1 earnings rows" in rebuilt.output
    assert runner.invoke(args=["points", "verify"]).exit_code == 0


def test_expire_from_the_command_line(app, make_member):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["points", "expire", "--as-of", "2030-01-01"])
    assert result.exit_code == 0
    assert "expired 0 points of 0 users" in result.output


def test_seed_demo_gives_the_demo_residents_points_once(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    with app.app_context():
        total = db.session.execute(
            text("SELECT COUNT(*), SUM(balance) FROM points_accounts WHERE kind='available'")
        )
        # 张大妈 5 + 6, 李师傅 4 + 5 for the demo wish he fulfilled, 王同学 1.
        assert tuple(total.one()) == (3, 5 + 6 + 4 + 5 + 1)
