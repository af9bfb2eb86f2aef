"""`/api/v1/openapi.json`: a valid OpenAPI 3.1 document (checked by openapi-spec-validator,
an implementation independent of FastAPI's generator) of the admin API only."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator

from tests.web.api.conftest import Api

METHODS = {"get", "put", "post", "delete", "patch"}


def _document(api: Api) -> dict[str, Any]:
    response = api.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document: dict[str, Any] = response.json()
    return document


def test_the_document_is_valid_openapi_3_1(api: Api) -> None:
    document = _document(api)
    assert document["openapi"].startswith("3.1.")
    validate(document, cls=OpenAPIV31SpecValidator)


def test_it_describes_the_admin_api_and_not_the_rfc_endpoints(api: Api) -> None:
    paths = _document(api)["paths"]
    assert paths, "no operation is documented"
    assert all(path.startswith("/api/v1/") for path in paths)
    for excluded in ("/v1/scim/v2", "/oauth2/token", "/.well-known", "/api/v1/system/config/jwks"):
        assert not any(path.startswith(excluded) for path in paths)


def test_every_operation_is_authenticated_and_answers_problems(api: Api) -> None:
    document = _document(api)
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            assert operation.get("operationId"), f"{method} {path} has no operationId"
            assert operation["security"] == [{"bearer": []}]
            for status in ("400", "401", "403"):
                content = operation["responses"][status]["content"]
                assert "application/problem+json" in content, (method, path, status)
            assert "422" not in operation["responses"], "validation errors are 400 problems"


def test_malformed_input_is_a_problem_document_with_the_fields(api: Api) -> None:
    from tests.web.api.conftest import assert_problem

    body = assert_problem(api.get("/api/v1/roles/%00"), 404, "not-found")
    assert "detail" in body
    assert_problem(api.get("/api/v1/no-such-thing"), 404, "not-found")
