"""Where a phone is: places are stored in GCJ-02 (what Chinese map pickers give), and a phone's
WGS-84 fix (``wx.getLocation``'s default) is turned into GCJ-02 before any distance is measured."""

from __future__ import annotations

import coordTransform

COORD_TYPES = ("gcj02", "wgs84")
MAX_ACCURACY_SLACK_M = 100  # a fix no better than this buys no more slack: the fence stays a fence


def as_gcj02(
    lat: float | None, lng: float | None, coord_type: str = "gcj02"
) -> tuple[float | None, float | None]:
    """The fix in GCJ-02; outside China both systems agree and the fix is returned as it is."""
    if lat is None or lng is None or coord_type == "gcj02":
        return lat, lng
    gcj_lng, gcj_lat = coordTransform.wgs84_to_gcj02(lng, lat)
    return float(gcj_lat), float(gcj_lng)


def accuracy_slack_m(accuracy_m: float | None) -> float:
    """The metres a fix of this accuracy may lie beyond the fence: ``min(accuracy, 100)``."""
    return min(accuracy_m, MAX_ACCURACY_SLACK_M) if accuracy_m else 0.0
