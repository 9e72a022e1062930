"""Building and reading the org tree."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from server.db import db
from server.errors import AppError, Conflict, NotFound
from server.orgs.models import ORG_KINDS, PARENT_KIND, OrgUnit


def get_org_by_code(code: str) -> OrgUnit:
    """The unit with this code, or ORG_NOT_FOUND."""
    org = db.session.scalars(select(OrgUnit).where(OrgUnit.code == code)).first()
    if org is None:
        raise NotFound("ORG_NOT_FOUND", details={"code": code})
    return org


def get_community(community_id: int) -> OrgUnit:
    """The community with this id, or an error saying it is not one."""
    org = db.session.get(OrgUnit, community_id)
    if org is None:
        raise NotFound("ORG_NOT_FOUND", details={"id": community_id})
    if org.kind != "community":
        raise AppError("NOT_A_COMMUNITY", status=422, details={"id": community_id, "kind": org.kind})
    return org


def create_org(kind: str, name: str, code: str, parent_code: str | None = None) -> OrgUnit:
    """Add a unit under its parent; the parent's kind must be the level above."""
    name, code = name.strip(), code.strip()
    if kind not in ORG_KINDS:
        raise AppError("VALIDATION_ERROR", status=422, details={"kind": f"one of {', '.join(ORG_KINDS)}"})
    if not name or not code:
        raise AppError("VALIDATION_ERROR", status=422, details={"name/code": "required"})
    parent = get_org_by_code(parent_code.strip()) if parent_code else None
    expected = PARENT_KIND[kind]
    if (parent.kind if parent else None) != expected:
        raise AppError(
            "ORG_PARENT_INVALID", status=422, details={"kind": kind, "expected_parent_kind": expected}
        )
    org = OrgUnit(kind=kind, name=name, code=code, parent=parent)
    try:
        with db.session.begin_nested():
            db.session.add(org)
    except IntegrityError as exc:
        # The unique constraint decides; a read before the insert would race.
        raise Conflict("ORG_CODE_TAKEN", details={"code": code}) from exc
    org.path = f"{parent.path if parent else '/'}{org.id}/"
    db.session.flush()
    return org


def list_communities(under: OrgUnit | None = None) -> list[OrgUnit]:
    """Every community, optionally only those below ``under``, by code."""
    query = select(OrgUnit).where(OrgUnit.kind == "community")
    if under is not None:
        query = query.where(OrgUnit.path.startswith(under.path))
    return list(db.session.scalars(query.order_by(OrgUnit.code)))


def communities_under(org: OrgUnit) -> list[int]:
    """Ids of the communities in an org unit's subtree (itself, if it is one)."""
    return list(
        db.session.scalars(
            select(OrgUnit.id).where(OrgUnit.kind == "community", OrgUnit.path.startswith(org.path))
        )
    )


def org_names(ids: list[int]) -> dict[int, str]:
    """The names of org units by id, in one query."""
    return dict(db.session.execute(select(OrgUnit.id, OrgUnit.name).where(OrgUnit.id.in_(ids))).all())
