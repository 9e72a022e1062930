"""Demo stations and party days of check-in, for `make run`."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from checkin.models import Activity, Station
from server import clock
from server.db import db
from server.orgs.models import OrgUnit


def seed_demo_checkin() -> None:
    """A station and an upcoming themed party day in each demo community (once)."""
    hours = {day: [["08:30", "17:30"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat")}
    for code in ("C01", "C02"):
        community = db.session.scalars(select(OrgUnit).where(OrgUnit.code == code)).first()
        if community is None:
            continue
        name = f"{community.name}党群服务中心"
        station = db.session.scalars(select(Station).where(Station.name == name)).first()
        if station is None:
            station = Station(
                community_id=community.id,
                name=name,
                address=f"{community.name}居委会一楼",
                lat=31.2304,
                lng=121.4737,
                radius_m=300,
                opening_hours=hours,
                printed_code_allowed=True,  # a poster beside the screen, inside the station's fence
            )
            db.session.add(station)
            db.session.flush()
        title = f"{community.name}主题党日：学习新思想"
        if db.session.scalars(select(Activity).where(Activity.title == title)).first() is None:
            start = (clock.now() + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
            db.session.add(
                Activity(
                    community_id=community.id,
                    station_id=station.id,
                    title=title,
                    kind="party_day",
                    place=station.name,
                    starts_at=start,
                    ends_at=start + timedelta(hours=2),
                    checkin_opens_at=start - timedelta(minutes=30),
                    checkin_closes_at=start + timedelta(hours=2),
                    capacity=50,
                    taken=0,
                    points_rule="PARTY_DAY",
                    geofence=True,
                    lat=station.lat,
                    lng=station.lng,
                    radius_m=station.radius_m,
                    printed_code_allowed=True,  # the poster works only from within the fence
                )
            )
    db.session.flush()
