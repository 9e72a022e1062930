"""Stations, activities and sign-ups (check-ins themselves come next)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Numeric, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Model, TimestampMixin
from server.orgs.models import OrgUnit

ACTIVITY_KINDS = ("party_day", "volunteer", "meeting", "training", "other")
# Open until the member checks out (closed) or the closing job ends it (auto_closed); staff may void one.
CHECKIN_STATUSES = ("open", "closed", "auto_closed", "voided")
# scan: the rotating code of a door screen; printed: a signed poster; staff: a staff scan; batch: offline.
CHECKIN_SOURCES = ("scan", "printed", "staff", "batch")


class Station(TimestampMixin, Model):
    """A fixed place of a community (党群服务中心, 服务驿站) with opening hours."""

    __tablename__ = "stations"
    __table_args__ = (CheckConstraint("radius_m > 0", name="radius_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(255), default="")
    lat: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    lng: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    radius_m: Mapped[int] = mapped_column(default=200)
    # {"mon": [["08:30", "12:00"], ["14:00", "17:30"]], ...}; days without hours are closed.
    opening_hours: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    points_rule: Mapped[str] = mapped_column(String(32), default="STATION_DUTY_HOUR")
    active: Mapped[bool] = mapped_column(default=True)
    # A signed poster code is accepted only where staff allow it; a reprint (+1) retires the old poster.
    printed_code_allowed: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    printed_version: Mapped[int] = mapped_column(default=1, server_default=text("1"))

    community: Mapped[OrgUnit] = relationship()


class Activity(TimestampMixin, Model):
    """A dated event with a check-in window, an optional capacity and the points rule it awards."""

    __tablename__ = "activities"
    __table_args__ = (
        CheckConstraint("kind IN ('party_day','volunteer','meeting','training','other')", name="kind"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("checkin_closes_at > checkin_opens_at", name="window_not_empty"),
        # The backstop of "never over capacity": the conditional update is the rule.
        CheckConstraint(
            "capacity IS NULL OR (taken >= 0 AND taken <= capacity)", name="taken_within_capacity"
        ),
        Index("ix_activities_community_starts", "community_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id"))
    title: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text, default="")
    place: Mapped[str] = mapped_column(String(255), default="")
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    checkin_opens_at: Mapped[datetime] = mapped_column()
    checkin_closes_at: Mapped[datetime] = mapped_column()
    capacity: Mapped[int | None] = mapped_column()
    taken: Mapped[int] = mapped_column(default=0)
    signup_required: Mapped[bool] = mapped_column(default=False)
    points_rule: Mapped[str] = mapped_column(String(32))
    hours_count: Mapped[bool] = mapped_column(default=False)
    geofence: Mapped[bool] = mapped_column(default=False)
    lat: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    lng: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    radius_m: Mapped[int | None] = mapped_column()
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    cancelled_at: Mapped[datetime | None] = mapped_column()
    reminded_at: Mapped[datetime | None] = mapped_column()
    printed_code_allowed: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    printed_version: Mapped[int] = mapped_column(default=1, server_default=text("1"))
    # Party members of the community and members signed up only (party days are, whatever this says).
    members_only: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    # Residents of other communities may check in too.
    open_to_all: Mapped[bool] = mapped_column(default=False, server_default=text("false"))

    community: Mapped[OrgUnit] = relationship()
    station: Mapped[Station | None] = relationship()


class Signup(TimestampMixin, Model):
    """A member's sign-up for an activity; one per member and activity."""

    __tablename__ = "activity_signups"
    __table_args__ = (UniqueConstraint("activity_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # Whether this sign-up took one of the activity's places (sign-up required), so a cancellation frees
    # exactly what it took even when staff changed the activity since.
    holds_place: Mapped[bool] = mapped_column(default=False, server_default=text("false"))


class CheckIn(TimestampMixin, Model):
    """A member's check-in at an activity, or a visit to a station; closed by a check-out."""

    __tablename__ = "checkins"
    __table_args__ = (
        CheckConstraint("(activity_id IS NULL) <> (station_id IS NULL)", name="one_target"),
        CheckConstraint("status IN ('open','closed','auto_closed','voided')", name="status"),
        CheckConstraint("source IN ('scan','printed','staff','batch')", name="source"),
        # A repeated request (same member, same client nonce) is the same check-in.
        UniqueConstraint("user_id", "nonce"),
        # One check-in per member per activity, decided by the database.
        Index(
            "uq_checkins_activity_user",
            "activity_id",
            "user_id",
            unique=True,
            postgresql_where=text("activity_id IS NOT NULL"),
            sqlite_where=text("activity_id IS NOT NULL"),
        ),
        # One open visit per member per station.
        Index(
            "uq_checkins_station_user_open",
            "station_id",
            "user_id",
            unique=True,
            postgresql_where=text("station_id IS NOT NULL AND status = 'open'"),
            sqlite_where=text("station_id IS NOT NULL AND status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("activities.id"))
    station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id"))
    nonce: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="open")
    checked_in_at: Mapped[datetime] = mapped_column()
    checked_out_at: Mapped[datetime | None] = mapped_column()
    minutes: Mapped[int | None] = mapped_column()
    points_awarded: Mapped[int] = mapped_column(default=0)
    lat: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    lng: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    source: Mapped[str] = mapped_column(String(16), default="scan")
    device_id: Mapped[str | None] = mapped_column(String(64), index=True)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The staff account that recorded it (a staff scan or an offline batch); None for a member's own scan.
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    # The last moment presence was proven (the check-in, a check-out code): hours are paid up to it.
    proven_at: Mapped[datetime | None] = mapped_column()
    voided_at: Mapped[datetime | None] = mapped_column()
    voided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    void_reason: Mapped[str | None] = mapped_column(String(200))

    activity: Mapped[Activity | None] = relationship()
    station: Mapped[Station | None] = relationship()

    @property
    def title(self) -> str:
        """The activity's title or the station's name, as the member's list shows it."""
        if self.activity is not None:
            return self.activity.title
        return self.station.name if self.station is not None else ""

    @property
    def place(self) -> str:
        """Where it was: the activity's place (else its station's address) or the station's address."""
        if self.activity is not None:
            if self.activity.place:
                return self.activity.place
            return self.activity.station.address if self.activity.station is not None else ""
        return self.station.address if self.station is not None else ""


class BatchItem(TimestampMixin, Model):
    """One item of an offline batch from a staff device, remembered by its nonce so a resend is a no-op."""

    __tablename__ = "checkin_batch_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    device_id: Mapped[str] = mapped_column(String(64))
    # Who sent it: the staff account logged in on the device (None only for items of before it was kept).
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    checkin_id: Mapped[int | None] = mapped_column(ForeignKey("checkins.id"))
    result: Mapped[str] = mapped_column(String(16))
    code: Mapped[str | None] = mapped_column(String(32))
