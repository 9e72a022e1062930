"""The /me payload of a WeChat user or a staff account."""

from __future__ import annotations

from typing import Any

from server.users.models import StaffAccount, User


def me_payload(kind: str, who: User | StaffAccount) -> dict[str, Any]:
    """What MeSchema dumps for either kind of principal."""
    if isinstance(who, User):
        return {
            "id": who.id,
            "kind": "user",
            "nickname": who.nickname,
            "community_id": who.community_id,
            "roles": who.roles,
            "party_member": who.party_member,
            "party_community_id": who.party_community_id,
            "volunteer_community_id": who.volunteer_community_id,
            "phone_masked": who.phone_masked,
            "org": None,
        }
    return {
        "id": who.id,
        "kind": "staff",
        "nickname": who.display_name,
        "community_id": who.org_id if who.org.kind == "community" else None,
        "roles": who.roles,
        "party_member": False,
        "party_community_id": None,
        "volunteer_community_id": None,
        "phone_masked": None,
        "org": who.org,
    }
