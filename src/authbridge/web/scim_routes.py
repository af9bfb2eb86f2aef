"""SCIM 2.0 over HTTP (RFC 7644 §3): `/v1/scim/v2/okta` (HTTP Basic) and
`/v1/scim/v2/microsoft` (Bearer), the contract of Astronomer's "Manage users and Teams with
SCIM". Only web glue: parsing, credentials, limits and rendering; the rules live in
`authbridge.scim.service`.

Every answer is `application/scim+json`; every failure is an RFC 7644 §3.12 error body,
401 included (with `WWW-Authenticate`), and never a traceback.

scim2-models (models and filter grammar) is loaded with the first request that passed
authentication (the discovery documents, the resource models, a source's service), never
at start-up: `tests/test_imports.py` holds a default `serve` free of it.

Over 400 lines because it is every SCIM endpoint of RFC 7644 §3 (Users, Groups, `.search`,
discovery) over one credential and error glue; split by resource, each part would repeat it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from authbridge.config.model import Settings
from authbridge.scim.auth import (
    SOURCES,
    Credential,
    Guard,
    actor_of,
    authenticate_any,
    credential_for,
)
from authbridge.scim.body import parse_json
from authbridge.scim.errors import (
    InvalidSyntax,
    InvalidValue,
    NotFound,
    ScimError,
    TooLarge,
    Unauthorized,
)
from authbridge.storage.errors import UNAVAILABLE, UNSTORABLE, lost_connection
from authbridge.web.errors import RETRY_AFTER
from authbridge.web.security import client_address
from authbridge.web.services import Services

if TYPE_CHECKING:
    from scim2_models import ResponseParameters

    from authbridge.scim.service import ListQuery, Page, ScimService

__all__ = ["endpoints_for", "router"]

log = structlog.get_logger("authbridge.scim")
PATH_ROOT = "/v1/scim/v2/"
PREFIX = PATH_ROOT + "{source}"
MEDIA_TYPE = "application/scim+json"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SEARCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

router = APIRouter()


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers={"cache-control": "no-store", **(headers or {})},
    )


def _error(error: ScimError, credential: Credential | None = None) -> Response:
    headers = {}
    if error.status == 401 and credential is not None:
        challenge = 'Basic realm="SCIM"' if credential.scheme == "basic" else 'Bearer realm="SCIM"'
        headers["www-authenticate"] = challenge
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        headers["retry-after"] = str(retry_after)
    return _json(error.body(), error.status, headers)


class _Endpoint:
    """One source's SCIM endpoint: its credential, and its service once storage is up."""

    def __init__(self, services: Services, source: str) -> None:
        self.services = services
        self.source = source
        self.settings: Settings = services.settings
        # SCIM_AUTH_CODE_<SOURCE> may come from the file's Houston env/secret lists too.
        self.credential = credential_for(
            source, self.settings.scim, self.settings.environ(os.environ)
        )
        self.base_url = f"{self.settings.server.issuer}/v1/scim/v2/{source}"

    def guard(self, request: Request) -> Guard:
        """Wrong credentials are throttled per (source, address) and per address."""
        address = client_address(request, self.settings.server.trusted_proxies)
        return Guard(self.services.ready().scim_throttle, address)

    def authenticate(self, authorization: str | None, guard: Guard) -> str:
        """Any active credential of this source (the environment's or a stored one); runs
        in a worker thread, since the active set may be reloaded from the database."""
        credentials = self.services.ready().scim_credentials
        matched = authenticate_any(
            self.source, credentials.active(self.source), authorization, guard
        )
        credentials.used(matched)
        return actor_of(matched)

    @property
    def service(self) -> ScimService:
        return self.services.ready().scim[self.source]


def _endpoint(request: Request, source: str) -> _Endpoint:
    if source not in SOURCES:
        raise NotFound(f"no SCIM endpoint {source!r}; use okta or microsoft")
    endpoints: dict[str, _Endpoint] = request.app.state.scim_endpoints
    return endpoints[source]


def endpoints_for(services: Services) -> dict[str, _Endpoint]:
    """Every source's endpoint, built once with the app (`create_app`)."""
    return {source: _Endpoint(services, source) for source in SOURCES}


def too_large(status: int, detail: str) -> tuple[str, bytes]:
    """A body refused by web/limits.py (`scim.maxRequestBytes`) as an RFC 7644 §3.12 error."""
    error = TooLarge(detail)
    error.status = status
    return MEDIA_TYPE, json.dumps(error.body()).encode()


async def _body(request: Request) -> Any:
    # The size limit is enforced while the body streams, for every route, by web/limits.py.
    try:
        received = await request.body()
    except ClientDisconnect:
        raise InvalidSyntax("the request body did not arrive whole") from None
    if not received:
        raise InvalidSyntax("the request needs a JSON body")
    return parse_json(bytes(received))


def _int_param(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidValue(f"{name} must be an integer") from None
    # Past any real collection: clamp to what every database's integers hold.
    return max(min(value, 2**31 - 1), -(2**31))


def _list_query(params: dict[str, Any], with_members: bool) -> ListQuery:
    """RFC 7644 §3.4.2.4: startIndex below 1 counts as 1, a negative count as 0."""
    start = _int_param(_str(params.get("startIndex")), "startIndex")
    count = _int_param(_str(params.get("count")), "count")
    from authbridge.scim.service import ListQuery

    order = (_str(params.get("sortOrder")) or "ascending").lower()
    if order not in ("ascending", "descending"):
        raise InvalidValue("sortOrder must be ascending or descending")
    return ListQuery(
        filter=_str(params.get("filter")),
        sort_by=_str(params.get("sortBy")),
        descending=order == "descending",
        start_index=max(start or 1, 1),
        count=None if count is None else max(count, 0),
        with_members=with_members,
    )


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise InvalidValue("query parameters are strings")
    return value


def _projection(params: dict[str, Any], model: Any) -> ResponseParameters[Any] | None:
    """RFC 7644 §3.9 `attributes` / `excludedAttributes`."""
    from scim2_models import ResponseParameters

    from authbridge.scim.service import scim_error_from

    attributes = params.get("attributes")
    excluded = params.get("excludedAttributes")
    if not attributes and not excluded:
        return None
    try:
        return ResponseParameters[model](
            attributes=attributes or None, excluded_attributes=excluded or None
        )
    except Exception as exc:
        raise InvalidValue(f"invalid attributes: {scim_error_from(exc).detail}") from None


def _wants_members(projection: ResponseParameters[Any] | None) -> bool:
    if projection is None:
        return True
    if projection.excluded_attributes:
        return not any(
            str(p).lower().split(".")[0].endswith("members") for p in projection.excluded_attributes
        )
    if projection.attributes:
        return any(str(p).lower().split(".")[0].endswith("members") for p in projection.attributes)
    return True


def _project(
    resource: dict[str, Any], model: Any, projection: ResponseParameters[Any] | None
) -> dict[str, Any]:
    if projection is None:
        return resource
    from scim2_models import Context

    validated = model.model_validate(resource, scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    result: dict[str, Any] = validated.model_dump(
        scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=projection
    )
    return result


def _list_body(
    page: Page, model: Any, projection: ResponseParameters[Any] | None
) -> dict[str, Any]:
    resources = [_project(r, model, projection) for r in page.resources]
    return {
        "schemas": [LIST_SCHEMA],
        "totalResults": page.total,
        "startIndex": page.start_index,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


def _resource_response(
    resource: dict[str, Any],
    model: Any,
    projection: ResponseParameters[Any] | None,
    status: int = 200,
) -> Response:
    headers = {"etag": resource["meta"]["version"]}
    if status == 201:
        headers["location"] = resource["meta"]["location"]
    return _json(_project(resource, model, projection), status, headers)


async def _handle(request: Request, source: str, work: Callable[[_Endpoint, str], Any]) -> Response:
    """Answer (see `_answer`), counted in `authbridge_scim_requests_total`."""
    response = await _answer(request, source, work)
    services: Services = request.app.state.services
    services.metrics.scim_request(source, request.method, response.status_code)
    return response


async def _answer(request: Request, source: str, work: Callable[[_Endpoint, str], Any]) -> Response:
    """Authenticate, run `work` in a worker thread, and render any failure as SCIM."""
    credential: Credential | None = None
    try:
        endpoint = _endpoint(request, source)
        credential = endpoint.credential
        actor = await run_in_threadpool(
            endpoint.authenticate, request.headers.get("authorization"), endpoint.guard(request)
        )
        result = work(endpoint, actor)
        if hasattr(result, "__await__"):
            result = await result
        if not isinstance(result, Response) and callable(result):
            result = await run_in_threadpool(result)
        assert isinstance(result, Response)
        return result
    except Unauthorized as exc:
        log.warning("scim_unauthorized", source=source, reason=exc.detail)
        return _error(exc, credential)
    except ScimError as exc:
        return _error(exc, credential)
    except UNSTORABLE:
        # A value the database refuses (too long, out of range): the client's input.
        return _error(InvalidValue("a value is too long or out of range"), credential)
    except Exception as exc:
        if isinstance(exc, UNAVAILABLE) or lost_connection(exc):
            # Down, timed out, the connection lost, or no pooled connection free in time:
            # 503 with Retry-After (RFC 7644 §3.12 error body), so the IdP retries instead
            # of failing the user.
            log.error("scim_storage_unavailable", error=type(exc).__name__)
            error = ScimError("the service cannot reach its database right now")
            error.status = 503
            response = _error(error)
            response.headers["retry-after"] = RETRY_AFTER
            return response
        log.exception("scim_unhandled_error", path=request.url.path)
        error = ScimError("an unexpected error occurred; it has been logged")
        error.status = 500
        return _error(error)


# ------------------------------------------------------------------------ discovery


@router.get(PREFIX + "/ServiceProviderConfig")
async def service_provider_config(request: Request, source: str) -> Response:
    def work(endpoint: _Endpoint, _actor: str) -> Response:
        from authbridge.scim import discovery

        scheme = endpoint.credential.scheme
        return _json(
            discovery.service_provider_config(endpoint.settings.scim, scheme, endpoint.base_url)
        )

    return await _handle(request, source, work)


def _schemas(base_url: str) -> list[dict[str, Any]]:
    from authbridge.scim import discovery

    return discovery.schemas(base_url)


def _resource_types(base_url: str) -> list[dict[str, Any]]:
    from authbridge.scim import discovery

    return discovery.resource_types(base_url)


def _listing(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": [LIST_SCHEMA],
        "totalResults": len(items),
        "startIndex": 1,
        "itemsPerPage": len(items),
        "Resources": items,
    }


def _one_of(items: list[dict[str, Any]], ident: str, kind: str) -> Response:
    for item in items:
        if item["id"] == ident:
            return _json(item)
    raise NotFound(f"{kind} {ident} not found")


@router.get(PREFIX + "/Schemas")
async def list_schemas(request: Request, source: str) -> Response:
    return await _handle(request, source, lambda e, _a: _json(_listing(_schemas(e.base_url))))


@router.get(PREFIX + "/Schemas/{schema_id}")
async def get_schema(request: Request, source: str, schema_id: str) -> Response:
    return await _handle(
        request, source, lambda e, _a: _one_of(_schemas(e.base_url), schema_id, "Schema")
    )


@router.get(PREFIX + "/ResourceTypes")
async def list_resource_types(request: Request, source: str) -> Response:
    return await _handle(
        request, source, lambda e, _a: _json(_listing(_resource_types(e.base_url)))
    )


@router.get(PREFIX + "/ResourceTypes/{type_id}")
async def get_resource_type(request: Request, source: str, type_id: str) -> Response:
    return await _handle(
        request,
        source,
        lambda e, _a: _one_of(_resource_types(e.base_url), type_id, "ResourceType"),
    )


# ------------------------------------------------------------------------ resources

_KINDS = ("Users", "Groups")


def _model(kind: str) -> Any:
    """The scim2-models resource model of `kind` (one of `_KINDS`)."""
    from authbridge.scim.resources import GroupModel, UserModel

    return UserModel if kind == "Users" else GroupModel


def _list(endpoint: _Endpoint, kind: str, params: dict[str, Any]) -> Callable[[], Response]:
    model = _model(kind)
    projection = _projection(params, model)
    query = _list_query(params, _wants_members(projection) if kind == "Groups" else True)

    def run() -> Response:
        service = endpoint.service
        page = service.list_users(query) if kind == "Users" else service.list_groups(query)
        return _json(_list_body(page, model, projection))

    return run


@router.get(PREFIX + "/{kind}")
async def list_resources(request: Request, source: str, kind: str) -> Response:
    """RFC 7644 §3.4.2: query a collection."""
    if kind not in _KINDS:
        return await _unknown(request, source, kind)
    params = dict(request.query_params)
    return await _handle(request, source, lambda e, _a: _list(e, kind, params))


@router.post(PREFIX + "/{kind}/.search")
async def search_resources(request: Request, source: str, kind: str) -> Response:
    """RFC 7644 §3.4.3: the same query sent as a SearchRequest body."""
    if kind not in _KINDS:
        return await _unknown(request, source, kind)

    async def work(endpoint: _Endpoint, _actor: str) -> Callable[[], Response]:
        body = await _body(request)
        if not isinstance(body, dict) or SEARCH_SCHEMA not in (body.get("schemas") or []):
            raise InvalidSyntax(f'"schemas" must be ["{SEARCH_SCHEMA}"]')
        params = {
            k: (",".join(v) if isinstance(v, list) and k.endswith("ttributes") else v)
            for k, v in body.items()
            if k != "schemas"
        }
        return _list(endpoint, kind, params)

    return await _handle(request, source, work)


@router.post(PREFIX + "/{kind}")
async def create_resource(request: Request, source: str, kind: str) -> Response:
    """RFC 7644 §3.3: create; 201 with Location and ETag."""
    if kind not in _KINDS:
        return await _unknown(request, source, kind)
    params = dict(request.query_params)

    async def work(endpoint: _Endpoint, actor: str) -> Callable[[], Response]:
        body = await _body(request)
        projection = _projection(params, _model(kind))

        def run() -> Response:
            service = endpoint.service
            created = (
                service.create_user(body, actor=actor)
                if kind == "Users"
                else service.create_group(body, actor=actor)
            )
            return _resource_response(created, _model(kind), projection, 201)

        return run

    return await _handle(request, source, work)


@router.get(PREFIX + "/{kind}/{resource_id}")
async def get_resource(request: Request, source: str, kind: str, resource_id: str) -> Response:
    """RFC 7644 §3.4.1: read one resource."""
    if kind not in _KINDS:
        return await _unknown(request, source, kind)
    params = dict(request.query_params)

    def work(endpoint: _Endpoint, _actor: str) -> Callable[[], Response]:
        model = _model(kind)
        projection = _projection(params, model)

        def run() -> Response:
            service = endpoint.service
            found = (
                service.get_user(resource_id)
                if kind == "Users"
                else service.get_group(resource_id, with_members=_wants_members(projection))
            )
            from authbridge.scim.service import weak_match

            if_none = request.headers.get("if-none-match")
            if if_none and weak_match(if_none, found["meta"]["version"]):
                return Response(status_code=304, headers={"etag": found["meta"]["version"]})
            return _resource_response(found, model, projection)

        return run

    return await _handle(request, source, work)


@router.put(PREFIX + "/{kind}/{resource_id}")
async def replace_resource(request: Request, source: str, kind: str, resource_id: str) -> Response:
    """RFC 7644 §3.5.1: replace; If-Match honoured (§3.14)."""
    if kind not in _KINDS:
        return await _unknown(request, source, kind)
    params = dict(request.query_params)
    if_match = request.headers.get("if-match")

    async def work(endpoint: _Endpoint, actor: str) -> Callable[[], Response]:
        body = await _body(request)
        projection = _projection(params, _model(kind))

        def run() -> Response:
            service = endpoint.service
            done = (
                service.replace_user(resource_id, body, actor=actor, if_match=if_match)
                if kind == "Users"
                else service.replace_group(resource_id, body, actor=actor, if_match=if_match)
            )
            return _resource_response(done, _model(kind), projection)

        return run

    return await _handle(request, source, work)


@router.patch(PREFIX + "/{kind}/{resource_id}")
async def patch_resource(request: Request, source: str, kind: str, resource_id: str) -> Response:
    """RFC 7644 §3.5.2: modify; 200 with the resource (its members unless excluded)."""
    if kind not in _KINDS:
        return await _unknown(request, source, kind)
    params = dict(request.query_params)
    if_match = request.headers.get("if-match")

    async def work(endpoint: _Endpoint, actor: str) -> Callable[[], Response]:
        body = await _body(request)
        projection = _projection(params, _model(kind))

        def run() -> Response:
            service = endpoint.service
            if kind == "Users":
                done = service.patch_user(resource_id, body, actor=actor, if_match=if_match)
            else:
                done = service.patch_group(
                    resource_id,
                    body,
                    actor=actor,
                    if_match=if_match,
                    with_members=_wants_members(projection),
                )
            return _resource_response(done, _model(kind), projection)

        return run

    return await _handle(request, source, work)


@router.delete(PREFIX + "/{kind}/{resource_id}")
async def delete_resource(request: Request, source: str, kind: str, resource_id: str) -> Response:
    """RFC 7644 §3.6: delete; 204."""
    if kind not in _KINDS:
        return await _unknown(request, source, kind)
    if_match = request.headers.get("if-match")

    def work(endpoint: _Endpoint, actor: str) -> Callable[[], Response]:
        def run() -> Response:
            service = endpoint.service
            if kind == "Users":
                service.delete_user(resource_id, actor=actor, if_match=if_match)
            else:
                service.delete_group(resource_id, actor=actor, if_match=if_match)
            return Response(status_code=204)

        return run

    return await _handle(request, source, work)


async def _not_found(request: Request, source: str) -> Response:
    def work(_endpoint: _Endpoint, _actor: str) -> Response:
        raise NotFound(f"there is no SCIM resource at {request.url.path}")

    return await _handle(request, source, work)


@router.api_route(PREFIX + "/{rest:path}", methods=ALL_METHODS)
async def anything_else(request: Request, source: str, rest: str) -> Response:
    """Unknown paths and methods answer a SCIM error, never the site's HTML page."""
    return await _unknown(request, source, rest)


async def _unknown(request: Request, source: str, rest: str) -> Response:
    first = rest.strip("/").split("/", 1)[0]
    if first == ".search" or first == "Me" or first == "Bulk":

        def work(_endpoint: _Endpoint, _actor: str) -> Response:
            error = ScimError(f"/{first} is not supported by this server")
            error.status = 501
            raise error

        return await _handle(request, source, work)
    if first in _KINDS or first in ("ServiceProviderConfig", "Schemas", "ResourceTypes"):

        def refuse(_endpoint: _Endpoint, _actor: str) -> Response:
            error = ScimError(f"{request.method} is not allowed on {request.url.path}")
            error.status = 405
            raise error

        return await _handle(request, source, refuse)
    return await _not_found(request, source)
