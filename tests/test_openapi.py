"""The generated OpenAPI description and the Swagger UI served from the package (no CDN)."""

import re
from typing import Any

import pytest

# (path, method) of API.md implemented so far, and whether the operation needs a token.
OPERATIONS = [
    ("/api/v1/auth/wechat", "post", False),
    ("/api/v1/auth/staff", "post", False),
    ("/api/v1/auth/refresh", "post", False),
    ("/api/v1/me", "get", True),
    ("/api/v1/me", "patch", True),
    ("/api/v1/me/phone", "post", True),
    ("/api/v1/me/party-report", "post", True),
    ("/api/v1/party-reports", "get", True),
    ("/api/v1/party-reports/{report_id}/approve", "post", True),
    ("/api/v1/party-reports/{report_id}/reject", "post", True),
    ("/api/v1/communities", "get", False),
]


@pytest.fixture
def spec(client) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.is_json
    document: dict[str, Any] = response.get_json()
    return document


def test_the_description_is_openapi_3(spec):
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"]
    assert spec["info"]["version"]


@pytest.mark.parametrize(("path", "method"), [(path, method) for path, method, _ in OPERATIONS])
def test_every_implemented_operation_of_the_contract_is_described(spec, path, method):
    assert path in spec["paths"], sorted(spec["paths"])
    assert method in spec["paths"][path]


def test_the_bearer_scheme_is_declared(spec):
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"


@pytest.mark.parametrize(
    ("path", "method"), [(path, method) for path, method, protected in OPERATIONS if protected]
)
def test_protected_operations_declare_bearer_auth(spec, path, method):
    assert {"bearerAuth": []} in spec["paths"][path][method].get("security", [])


@pytest.mark.parametrize(
    ("path", "method"), [(path, method) for path, method, protected in OPERATIONS if not protected]
)
def test_public_operations_do_not_ask_for_a_token(spec, path, method):
    operation = spec["paths"][path][method]
    assert not any("bearerAuth" in requirement for requirement in operation.get("security", []))
    assert "bearerAuth" not in str(spec.get("security", []))


def test_the_report_id_is_a_path_parameter(spec):
    parameters = spec["paths"]["/api/v1/party-reports/{report_id}/approve"].get("parameters", [])
    assert any(p["name"] == "report_id" and p["in"] == "path" for p in parameters)


def asset_urls(html: str) -> list[str]:
    """Every src= and href= of a page."""
    return re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)["\']', html)


def test_the_docs_page_is_html_loading_swagger_ui_from_static(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    urls = asset_urls(html)
    assert any(url.endswith("swagger-ui-bundle.js") for url in urls), urls
    assert any(url.endswith("swagger-ui.css") for url in urls), urls
    assert all(url.startswith("/static/") for url in urls), urls
    assert not re.search(r"https?://", html)
    assert "/api/openapi.json" in html


def test_every_asset_of_the_docs_page_is_served(client):
    urls = asset_urls(client.get("/api/docs").get_data(as_text=True))
    assert urls
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.get_data(), url
        response.close()


def test_the_document_is_valid_where_apispec_wrote_decimal_bounds_as_strings(spec):
    # Found by the fuzz run: schemathesis refused the document ("90.000000" is not a number).
    lat = spec["components"]["schemas"]["Station"]["properties"]["lat"]
    assert (lat["type"], lat["minimum"], lat["maximum"]) == ("number", -90.0, 90.0)


def test_path_ids_are_documented_with_the_largest_id(spec):
    parameters = spec["paths"]["/api/v1/wishes/{wish_id}"]["parameters"]
    assert parameters[0]["schema"] == {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}


METHODS = ("get", "post", "put", "patch", "delete")


def _operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", operation


def test_openapi_spec_validator_accepts_the_document(spec):
    from openapi_spec_validator import validate

    validate(spec)  # raises on any error of the OpenAPI 3.0 schema
    assert spec["servers"] == [{"url": "/", "description": "this server"}]


def test_every_operation_has_a_unique_camel_case_operation_id(spec):
    ids = {where: operation.get("operationId") for where, operation in _operations(spec)}
    assert [where for where, name in ids.items() if not name] == []
    assert all(re.fullmatch(r"[a-z][A-Za-z0-9]*", name) for name in ids.values()), ids
    names = list(ids.values())
    assert sorted({name for name in names if names.count(name) > 1}) == []
    assert ids["GET /api/v1/me"] == "getMe"
    assert ids["POST /api/v1/wishes/{wish_id}/approve"] == "approveWish"
    assert ids["POST /api/v1/redemptions/{redemption_id}/approve"] == "approveRedemption"


def test_a_view_name_used_twice_stops_the_app_at_start():
    from server.extensions import OperationIds

    class Rule:
        endpoint = "store.cancel"

    plugin = OperationIds()
    plugin.operation_helper(
        path="/api/v1/redemptions/{redemption_id}/cancel", operations={"post": {}}, rule=Rule()
    )
    with pytest.raises(RuntimeError, match="cancelRedemption"):
        plugin.operation_helper(
            path="/api/v1/redemption/{redemption_id}/cancel", operations={"post": {}}, rule=Rule()
        )


def test_every_secured_operation_documents_its_401_with_the_envelope(spec):
    from server.errors import MESSAGES

    missing = []
    for where, operation in _operations(spec):
        if {"bearerAuth": []} not in operation.get("security", []):
            continue
        answer = operation["responses"].get("401")
        if answer is None:
            missing.append(where)
            continue
        schema = answer["content"]["application/json"]["schema"]
        assert schema["allOf"][0] == {"$ref": "#/components/schemas/Error"}
        codes = schema["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"]
        assert "UNAUTHORIZED" in codes and "TOKEN_EXPIRED_LOGIN" in codes
        assert [code for code in codes if code not in MESSAGES] == []
    assert missing == []


def _codes(spec: dict[str, Any], path: str, method: str, status: int) -> list[str]:
    """The error.code enum an operation documents for a status."""
    schema = spec["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    codes: list[str] = schema["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"]
    return codes


def test_user_only_operations_document_the_403_staff_get(spec, client, make_staff, login_staff):
    from tests.conftest import bearer

    assert "FORBIDDEN" in _codes(spec, "/api/v1/me/checkins", "get", 403)
    staff = bearer(login_staff(make_staff(org="C1")))
    answer = client.get("/api/v1/me/checkins", headers=staff)
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (403, "FORBIDDEN")


def test_error_codes_are_listed_per_operation_from_where_they_are_raised(spec):
    from server.errors import MESSAGES

    # raised in the service (wishes/services.py), through a helper taking the code (_require), by the
    # 429 of the claim limits, and by the framework (NOT_FOUND of a path id, VALIDATION_ERROR of a body)
    assert {"WISH_OWN", "NOT_A_SERVING_MEMBER"} <= set(
        _codes(spec, "/api/v1/wishes/{wish_id}/claim", "post", 403)
    )
    assert {"WISH_NOT_OPEN", "WISH_ALREADY_CLAIMED"} <= set(
        _codes(spec, "/api/v1/wishes/{wish_id}/claim", "post", 409)
    )
    assert {"CLAIM_LIMIT_DAY", "CLAIM_COOLDOWN", "RATE_LIMITED"} <= set(
        _codes(spec, "/api/v1/wishes/{wish_id}/claim", "post", 429)
    )
    assert {"WISH_NOT_FOUND", "NOT_FOUND"} <= set(_codes(spec, "/api/v1/wishes/{wish_id}/claim", "post", 404))
    # carried in a ledger refusal (points/ledger.py Refused) up to the store's Conflict
    assert {"INSUFFICIENT_POINTS", "OUT_OF_STOCK", "IDEMPOTENCY_KEY_REUSED"} <= set(
        _codes(spec, "/api/v1/redemptions", "post", 409)
    )
    assert {"TOKEN_INVALID", "TOKEN_EXPIRED", "SHORT_CODE_INVALID"} <= set(
        _codes(spec, "/api/v1/checkins", "post", 400)
    )
    assert "VALIDATION_ERROR" in _codes(spec, "/api/v1/wishes", "post", 422)
    listed = {code for where, operation in _operations(spec) for code in _all_codes(operation)}
    assert [code for code in sorted(listed) if code not in MESSAGES] == []
    assert len(listed) > 100


def _all_codes(operation: dict[str, Any]) -> list[str]:
    codes: list[str] = []
    for answer in operation["responses"].values():
        schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
        if "allOf" in schema:
            codes += schema["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"]
    return codes


def test_every_error_answer_lists_its_codes_as_an_enum(spec):
    unlisted = []
    for where, operation in _operations(spec):
        for status, answer in operation["responses"].items():
            if status.startswith("4") and "allOf" not in answer["content"]["application/json"]["schema"]:
                unlisted.append(f"{where} {status}")
    assert unlisted == []


def test_the_reader_follows_parameters_carried_codes_callbacks_and_leaves_unknown_codes_open():
    from server.error_codes import Reader
    from tests import error_code_samples as samples

    reader = Reader(packages=frozenset({"tests"}))
    assert reader.codes_of(samples.through_a_helper).resolved() == {
        409: {"SAMPLE_TAKEN"},
        404: {"SAMPLE_GONE"},
    }
    assert reader.codes_of(samples.refused_by_a_callback).resolved() == {409: {"SAMPLE_EMPTY", "CONFLICT"}}
    read = reader.codes_of(samples.from_a_value)
    assert (read.resolved(), read.open_statuses) == ({403: {"FORBIDDEN"}}, {409})
    assert reader.codes_of(samples.decorated).resolved() == {401: {"SAMPLE_LOGIN"}, 404: {"SAMPLE_GONE"}}


def test_the_401_codes_documented_are_the_ones_a_bad_token_gets(spec, client):
    codes = spec["paths"]["/api/v1/me"]["get"]["responses"]["401"]["content"]["application/json"]["schema"]
    documented = codes["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"]
    seen = {
        client.get("/api/v1/me").get_json()["error"]["code"],
        client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-token"}).get_json()["error"]["code"],
    }
    assert seen <= set(documented)


def test_images_and_probes_are_in_the_document_with_their_binary_bodies(spec):
    download = spec["paths"]["/files/{key}"]["get"]
    assert set(download["responses"]["200"]["content"]) == {"image/jpeg", "image/png", "image/webp"}
    assert "security" not in download and download["operationId"] == "downloadFile"
    assert "FILE_NOT_FOUND" in _codes(spec, "/files/{key}", "get", 404)
    assert spec["paths"]["/healthz"]["get"]["responses"]["200"]["content"]["application/json"]
    assert "503" in spec["paths"]["/readyz"]["get"]["responses"]
    printed = spec["paths"]["/api/v1/activities/{activity_id}/printed-code"]["get"]["responses"]["200"]
    assert printed["content"]["image/png"]["schema"] == {"type": "string", "format": "binary"}
    assert set(printed["headers"]) == {"X-Linli-Code", "X-Linli-Scene"}
    pickup = spec["paths"]["/api/v1/redemptions/{redemption_id}/pickup-qr"]["get"]["responses"]["200"]
    assert list(pickup["content"]) == ["image/png"]


def test_every_property_is_typed_and_every_status_and_kind_is_an_enum(spec):
    # A field computed by a function (fields.Function/Method) says its type in metadata; statuses and
    # kinds list their values, so a generator makes them enums (categories are configurable: GET /config).
    untyped, open_ended = [], []
    for name, schema in spec["components"]["schemas"].items():
        for prop, value in schema.get("properties", {}).items():
            if any(key in value for key in ("$ref", "allOf", "anyOf", "oneOf")):
                continue
            if "type" not in value:
                untyped.append(f"{name}.{prop}")
            elif prop in ("status", "kind") and value["type"] == "string" and "enum" not in value:
                open_ended.append(f"{name}.{prop}")
    assert (untyped, open_ended) == ([], [])


def _resolved(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with the document's components, for a validator that follows $ref."""
    return {**schema, "components": spec["components"]}


def test_the_main_operations_carry_examples_that_match_their_schemas(spec):
    from openapi_schema_validator import OAS30Validator

    checked = []
    for where, operation in _operations(spec):
        bodies = [operation.get("requestBody", {}), *operation["responses"].values()]
        for body in bodies:
            media = body.get("content", {}).get("application/json", {})
            if "example" in media:
                OAS30Validator(_resolved(spec, media["schema"])).validate(media["example"])
                checked.append(where)
    assert {"GET /api/v1/me", "POST /api/v1/checkins"} <= set(checked)
