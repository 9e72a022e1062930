"""The org tree: district → street → community → grid."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Model, TimestampMixin

ORG_KINDS = ("district", "street", "community", "grid")
# The kind each kind's parent must have; a district is a root.
PARENT_KIND = {"district": None, "street": "district", "community": "street", "grid": "community"}


class OrgUnit(TimestampMixin, Model):
    """One node of the org tree; ``path`` ("/1/4/9/") makes subtree checks a prefix match."""

    __tablename__ = "org_units"
    __table_args__ = (CheckConstraint("kind IN ('district','street','community','grid')", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id", ondelete="RESTRICT"), index=True)
    path: Mapped[str] = mapped_column(String(255), index=True, default="")

    parent: Mapped[OrgUnit | None] = relationship(remote_side=[id])

    def contains(self, other: OrgUnit) -> bool:
        """True when ``other`` is this unit or below it."""
        return bool(self.path) and other.path.startswith(self.path)

    def __repr__(self) -> str:
        return f"<OrgUnit {self.kind} {self.code}>"
