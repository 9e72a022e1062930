"""Signed rotating codes: windows, forgery, key rotation, scenes."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkin.tokens import (
    SCENE_ALLOWED,
    PrintedCode,
    issue_token,
    parse_keys,
    parse_printed,
    printed_scene,
    verify_token,
)
from server.errors import AppError

NOW = 1_795_300_000.0  # 2026-11-22, a fixed clock
SCREEN = ("activity", "station")


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app
        app.config.pop("CHECKIN_TOKEN_KEYS", None)


def _code(call):
    with pytest.raises(AppError) as refused:
        call()
    return refused.value.code


def test_a_token_verifies_in_its_window_and_the_next(ctx):
    issued = issue_token("activity", 42, now=NOW)
    assert SCENE_ALLOWED.match(issued.token)
    for later in (0, 29, 30, 59 - NOW % 30):
        verified = verify_token(issued.token, SCREEN, now=NOW + later)
        assert (verified.kind, verified.target_id) == ("activity", 42)
    assert issued.expires_at.timestamp() == (issued.window + 2) * 30


def test_two_windows_later_it_has_expired(ctx):
    issued = issue_token("station", 7, now=NOW)
    assert _code(lambda: verify_token(issued.token, SCREEN, now=(issued.window + 2) * 30)) == "TOKEN_EXPIRED"


def test_a_token_from_the_future_is_refused(ctx):
    issued = issue_token("station", 7, now=NOW + 120)
    assert _code(lambda: verify_token(issued.token, SCREEN, now=NOW)) == "TOKEN_INVALID"


def test_member_codes_live_about_a_minute(ctx):
    issued = issue_token("member", 9, now=NOW)
    assert verify_token(issued.token, ("member",), now=NOW + 60).target_id == 9
    assert (
        _code(lambda: verify_token(issued.token, ("member",), now=(issued.window + 2) * 60))
        == "TOKEN_EXPIRED"
    )
    # a member's code is not a screen code, and the other way round
    assert _code(lambda: verify_token(issued.token, SCREEN, now=NOW)) == "TOKEN_INVALID"


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # signature changed
        lambda t: "a" + "zz" + t[t.index(".") :],  # another activity, same signature
        lambda t: t.replace(".", ".1", 1),  # another window, same signature
        lambda t: t[: t.rindex(".") + 1] + "Z" + t[t.rindex(".") + 2 :],  # unknown key id
        lambda t: "s" + t[1:],  # a station instead of an activity
        lambda t: "",
        lambda t: "not a token",
        lambda t: t + "x",
        lambda t: "pa1k",  # a printed code is not a rotating token
        lambda t: "pa1k.1.A" + "a" * 16,
    ],
)
def test_forged_tokens_are_invalid(ctx, forge):
    token = issue_token("activity", 1000, now=NOW).token
    assert _code(lambda: verify_token(forge(token), SCREEN, now=NOW)) == "TOKEN_INVALID"


def test_keys_rotate_without_breaking_codes_on_screens(ctx):
    ctx.config["CHECKIN_TOKEN_KEYS"] = "A:first-secret-of-16+"  # noqa: S105  (a test key)
    old = issue_token("activity", 5, now=NOW).token
    ctx.config["CHECKIN_TOKEN_KEYS"] = "B:second-secret-16+chars,A:first-secret-of-16+"  # noqa: S105  (a test key)
    new = issue_token("activity", 5, now=NOW).token
    assert new != old and new.split(".")[2][0] == "B"
    assert verify_token(old, SCREEN, now=NOW).key_id == "A"
    assert verify_token(new, SCREEN, now=NOW).key_id == "B"
    ctx.config["CHECKIN_TOKEN_KEYS"] = "B:second-secret-16+chars"  # noqa: S105  (a test key; the old key is retired)
    assert _code(lambda: verify_token(old, SCREEN, now=NOW)) == "TOKEN_INVALID"


def test_another_secret_cannot_sign(ctx):
    token = issue_token("activity", 5, now=NOW).token
    ctx.config["CHECKIN_TOKEN_KEYS"] = "A:an-attackers-guessed-secret"  # noqa: S105  (a test key)
    assert _code(lambda: verify_token(token, SCREEN, now=NOW)) == "TOKEN_INVALID"


@pytest.mark.parametrize(
    "raw", ["", "A", "A:short", "AB:long-enough-secret-1", "A:long-enough-secret-1,A:other-secret-16chars"]
)
def test_bad_key_settings_are_refused(raw):
    with pytest.raises(ValueError, match="CHECKIN_TOKEN_KEYS must be"):
        parse_keys(raw)


def test_printed_codes_are_signed_and_name_their_target_and_version(ctx):
    scene = printed_scene("activity", 1296, 3)
    assert scene.startswith("pa100.3.A") and len(scene) <= 32
    assert parse_printed(scene) == PrintedCode("activity", 1296, 3)
    assert parse_printed(printed_scene("station", 1, 1)).kind == "station"
    assert printed_scene("station", 1, 1) != printed_scene("station", 1, 2)
    assert len(printed_scene("activity", 36**7 - 1, 46_655)) <= 32  # the largest id and version fit


@pytest.mark.parametrize(
    "forge",
    [
        lambda s: "pa7",  # the old unsigned scene, computable from an id (security review F1)
        lambda s: "pa8" + s[s.index(".") :],  # another activity, the same signature
        lambda s: s.replace(".1.", ".2.", 1),  # a reprint's version, the same signature
        lambda s: "ps" + s[2:],  # a station instead of an activity
        lambda s: s[:-1] + ("A" if s[-1] != "A" else "B"),  # signature changed
        lambda s: "",
        lambda s: "pm1.1.A" + "a" * 16,  # a member is never printed
    ],
)
def test_forged_printed_codes_are_invalid(ctx, forge):
    scene = printed_scene("activity", 7, 1)
    assert _code(lambda: parse_printed(forge(scene))) == "TOKEN_INVALID"


def test_a_printed_code_of_another_secret_is_invalid(ctx):
    scene = printed_scene("activity", 7, 1)
    ctx.config["CHECKIN_TOKEN_KEYS"] = "A:an-attackers-guessed-secret"  # noqa: S105  (a test key)
    assert _code(lambda: parse_printed(scene)) == "TOKEN_INVALID"
    with pytest.raises(ValueError, match="no printed code for member 1"):
        printed_scene("member", 1, 1)


def test_an_old_code_rewritten_to_the_current_window_is_invalid(ctx):
    # The signature covers the window: an old code with its window edited to now is not accepted (a
    # mutation that left the window out of the signature survived the suite before this test).
    old = issue_token("activity", 1000, now=NOW - 600)
    current = issue_token("activity", 1000, now=NOW)
    kind_id, _, rest = old.token.split(".")
    rewritten = f"{kind_id}.{current.token.split('.')[1]}.{rest}"
    assert rewritten != current.token
    assert _code(lambda: verify_token(old.token, SCREEN, now=NOW)) == "TOKEN_EXPIRED"
    assert _code(lambda: verify_token(rewritten, SCREEN, now=NOW)) == "TOKEN_INVALID"


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(["activity", "station", "member"]),
    target=st.integers(min_value=1, max_value=2_000_000_000),
    now=st.floats(min_value=1.7e9, max_value=2.0e9),
)
def test_every_issued_token_fits_a_scene_and_verifies(app, kind, target, now):
    with app.app_context():
        issued = issue_token(kind, target, now=now)
        assert len(issued.token) <= 32 and SCENE_ALLOWED.match(issued.token)
        verified = verify_token(issued.token, (kind,), now=now)
        assert (verified.kind, verified.target_id, verified.window) == (kind, target, issued.window)
