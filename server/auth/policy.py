"""Who may do what: one rule per action, knowing roles and org scope. Features register their own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import g, request
from sqlalchemy import select

from server.auth.tokens import verify_access_token
from server.db import db
from server.errors import Forbidden, Unauthorized
from server.orgs.models import OrgUnit
from server.users.models import StaffAccount, User

F = TypeVar("F", bound=Callable[..., Any])


class StaleToken(Unauthorized):
    """A validly signed, unexpired access token of an older token version: its logins have been ended."""

    def __init__(self) -> None:
        super().__init__("TOKEN_INVALID_LOGIN")


@dataclass(frozen=True)
class Principal:
    """The caller: a WeChat user or a staff account."""

    kind: str
    user: User | None = None
    staff: StaffAccount | None = None

    @property
    def id(self) -> int:
        """The id of the user or staff account."""
        return self.user.id if self.user is not None else self.staff.id  # type: ignore[union-attr]

    @property
    def is_staff(self) -> bool:
        """True for a console account of any role."""
        return self.staff is not None

    @property
    def is_admin(self) -> bool:
        """True for an admin staff account."""
        return self.staff is not None and self.staff.role == "admin"

    def covers(self, org: OrgUnit | None) -> bool:
        """True when ``org`` lies in this staff account's subtree."""
        return self.staff is not None and org is not None and self.staff.org.contains(org)


Rule = Callable[[Principal, Any], bool]
RULES: dict[str, Rule] = {}


def rule(action: str) -> Callable[[Rule], Rule]:
    """Register the rule deciding ``action``."""

    def register(fn: Rule) -> Rule:
        if action in RULES:
            raise RuntimeError(f"two rules for {action}")
        RULES[action] = fn
        return fn

    return register


def allowed(principal: Principal, action: str, target: Any = None) -> bool:
    """Decide ``action`` on ``target``; an action without a rule is refused."""
    decide = RULES.get(action)
    return bool(decide and decide(principal, target))


def authorize(principal: Principal, action: str, target: Any = None) -> None:
    """Raise 403 unless allowed."""
    if not allowed(principal, action, target):
        raise Forbidden(details={"action": action})


def staff_scope_ids(principal: Principal) -> list[int]:
    """Ids of every org unit in a staff account's subtree (for list filters)."""
    if principal.staff is None:
        return []
    prefix = principal.staff.org.path
    return list(db.session.scalars(select(OrgUnit.id).where(OrgUnit.path.startswith(prefix))))


def _load_principal() -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("UNAUTHORIZED")
    claims = verify_access_token(token.strip())
    account: User | StaffAccount | None = (
        db.session.get(User, claims.principal_id)
        if claims.kind == "user"
        else db.session.get(StaffAccount, claims.principal_id)
    )
    if account is None:
        raise Unauthorized("TOKEN_INVALID_LOGIN")
    if not account.active:
        raise Unauthorized("ACCOUNT_DISABLED")
    # Logout-everywhere, a password change and disabling bump the version: older tokens stop at once.
    if claims.version != account.token_version:
        raise StaleToken()
    if isinstance(account, User):
        return Principal(kind="user", user=account)
    return Principal(kind="staff", staff=account)


def current_principal() -> Principal:
    """The authenticated caller of this request (401 when there is none)."""
    principal: Principal | None = g.get("linli_principal")
    if principal is None:
        principal = _load_principal()
        g.linli_principal = principal
    return principal


def current_user_id() -> int:
    """The id of the calling WeChat user (in a view guarded by ``auth_required("user")``)."""
    user = current_principal().user
    assert user is not None  # noqa: S101  (only called behind auth_required("user"))
    return user.id


def auth_required(kind: str | None = None, *, done_when_stale: bool = False) -> Callable[[F], F]:
    """Require a valid access token, of ``kind`` ('user' or 'staff') when given. With
    ``done_when_stale`` a token whose logins have since been ended answers 204 without running the view:
    the resend of an action that ended them (logout-everywhere) gets the same answer as the first send."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                principal = current_principal()
            except StaleToken:
                if not done_when_stale:
                    raise
                return "", 204
            if kind is not None and principal.kind != kind:
                raise Forbidden(details={"requires": kind})
            return view(*args, **kwargs)

        wrapper._apidoc = getattr(view, "_apidoc", {})  # type: ignore[attr-defined]
        wrapper._apidoc.setdefault("manual_doc", {}).setdefault(  # type: ignore[attr-defined]
            "security", [{"bearerAuth": []}]
        )  # its 401 and 403 codes are read from the raise sites (server/error_codes.py)
        return wrapper  # type: ignore[return-value]

    return decorate


# --- rules of the shared core -------------------------------------------------------------------


@rule("party_report.create")
def _create_party_report(principal: Principal, _target: Any) -> bool:
    return principal.user is not None


@rule("party_report.list")
def _list_party_reports(principal: Principal, _target: Any) -> bool:
    return principal.is_staff


@rule("party_report.decide")
def _decide_party_report(principal: Principal, report: Any) -> bool:
    return principal.covers(report.community)


@rule("staff.create")
def _create_staff(principal: Principal, org: Any) -> bool:
    return principal.is_admin and principal.covers(org)


@rule("volunteer.manage")
def _manage_volunteers(principal: Principal, community: Any) -> bool:
    return principal.covers(community)


@rule("staff.manage")
def _manage_staff(principal: Principal, staff: Any) -> bool:
    return principal.is_admin and principal.covers(staff.org)
