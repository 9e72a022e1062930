"""The simulator against WeChat's published behaviour: the GCJ-02 transform on the published reference
points, encodeURIComponent of scenes and links, and what wx.request and wx.uploadFile hand to the page."""

from __future__ import annotations

import json

import pytest

from tests.client.simulator import (
    RequestFail,
    RequestSuccess,
    WxaCode,
    decode_uri_component,
    encode_uri_component,
    gcj02_to_wgs84_once,
    metres_between,
    token_from_scan,
    wgs84_to_gcj02,
    wgs84_under,
)

# wandergis/coordtransform's test/app.js (also in hutool's CoordinateUtilTest): the point (lng 116.404,
# lat 39.915) converted each way.
PUBLISHED_WGS84_TO_GCJ02 = ((39.915, 116.404), (39.91640428150164, 116.41024449916938))
PUBLISHED_GCJ02_TO_WGS84 = ((39.915, 116.404), (39.91359571849836, 116.39775550083061))


def test_the_transform_gives_the_published_reference_points_to_the_centimetre():
    (source, expected) = PUBLISHED_WGS84_TO_GCJ02
    assert metres_between(wgs84_to_gcj02(*source), expected) < 0.01
    (source, expected) = PUBLISHED_GCJ02_TO_WGS84
    assert metres_between(gcj02_to_wgs84_once(*source), expected) < 0.01


def test_the_phone_at_the_door_reads_the_station_back_in_gcj02():
    station = (31.2304, 121.4737)
    door = wgs84_under(*station)
    assert metres_between(wgs84_to_gcj02(*door), station) < 0.01
    assert metres_between(door, station) == pytest.approx(481, abs=3)  # the offset the review measured
    assert wgs84_to_gcj02(48.8566, 2.3522) == (48.8566, 2.3522)  # outside China the datums agree


def test_scenes_and_links_are_encoded_as_encodeuricomponent_does():
    assert (
        encode_uri_component("https://x.org/c/a1.b2?z=1&y") == "https%3A%2F%2Fx.org%2Fc%2Fa1.b2%3Fz%3D1%26y"
    )
    assert encode_uri_component("pa1k.1.Ab-_~!*'()") == "pa1k.1.Ab-_~!*'()"
    assert decode_uri_component(encode_uri_component("s6.znbba.AEJl/+=")) == "s6.znbba.AEJl/+="
    scanned = {"result": "", "path": f"pages/checkin/index?scene={encode_uri_component('pa1.2.k=/')}"}
    assert token_from_scan(scanned) == "pa1.2.k=/"
    assert WxaCode("p", "s").scene == "s"


def test_wx_request_hands_every_status_to_success_and_only_a_lost_answer_to_fail(new_phone):
    phone = new_phone("mia")
    seen: list[object] = []
    missing = phone.wx.request(f"{phone.api}/nowhere", success=seen.append, fail=seen.append)
    assert isinstance(missing, RequestSuccess) and missing.statusCode == 404
    assert missing.data["error"]["code"] and seen == [missing]
    phone.wx.lose_answer("GET", "/api/v1/config")
    lost = phone.wx.request(f"{phone.api}/config", fail=seen.append)
    assert isinstance(lost, RequestFail) and lost.errMsg == "request:fail timeout" and seen[-1] is lost
    foreign = phone.wx.request("https://evil.example.com/api/v1/config")
    assert isinstance(foreign, RequestFail) and "domain" in foreign.errMsg


def test_wx_upload_file_gives_the_answer_as_a_string(resident, png):
    phone = resident("nina")
    phone.wx.take_photo(png)
    path = phone.wx.chooseMedia(count=1)["tempFiles"][0]["tempFilePath"]
    result = phone.wx.uploadFile(
        f"{phone.api}/files",
        path,
        name="file",
        header={"Authorization": f"Bearer {phone.tokens['access_token']}"},
        formData={"purpose": "wish"},
    )
    assert isinstance(result, RequestSuccess) and result.statusCode == 201
    assert isinstance(result.data, str) and result.data.startswith("{")
    answer, parsed = phone.upload(path)
    assert answer.status == 201 and answer.tries == [201]
    assert parsed["url"].startswith("/files/") and parsed["id"] != json.loads(result.data)["id"]
