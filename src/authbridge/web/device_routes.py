"""The device verification page (RFC 8628 §3.3): a signed-in person types the code their
device shows and approves or denies it. Decisions are `provider.device.DeviceVerification`'s;
this module renders them."""

from __future__ import annotations

from urllib.parse import urlencode

import structlog
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from authbridge.provider.device import DEVICE_WINDOW, MAX_TYPED
from authbridge.web.dependencies import provider_for, services_of
from authbridge.web.rendering import check_csrf, render
from authbridge.web.services import Services
from authbridge.web.sessions import current

__all__ = ["router"]

router = APIRouter()
log = structlog.get_logger("authbridge.provider")

NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
WRONG_CODE = "That code is not valid or has expired. Check the device and try again."


def _wrong_code(request: Request, services: Services, typed: str) -> Response:
    return render(
        request, services, "device.html", 400, user_code=typed[:MAX_TYPED], error=WRONG_CODE
    )


def _throttled(request: Request, services: Services) -> Response:
    response = render(
        request,
        services,
        "device.html",
        429,
        error="Too many wrong codes. Wait a few minutes and try again.",
    )
    response.headers["retry-after"] = str(int(DEVICE_WINDOW.total_seconds()))
    return response


@router.get("/device", include_in_schema=False)
def device_page(request: Request, user_code: str = "") -> Response:
    services = services_of(request)
    signed_in = current(request, services)
    if signed_in is None:
        target = "/device" + (
            f"?{urlencode({'user_code': user_code[:MAX_TYPED]})}" if user_code else ""
        )
        return RedirectResponse(
            "/login?" + urlencode({"next": target}), status_code=303, headers=NO_STORE
        )
    if not user_code:
        return render(request, services, "device.html")
    verification = provider_for(request).device_verification
    if verification.throttled(signed_in.user.id):
        return _throttled(request, services)
    found = verification.lookup(signed_in.user.id, user_code)
    if found is None:
        return _wrong_code(request, services, user_code)
    info = {"user_code": found.user_code, "client_name": found.client_name, "scope": found.scope}
    return render(request, services, "device.html", request_info=info)


@router.post("/device", include_in_schema=False)
async def device_decide(request: Request) -> Response:
    form = await request.form()
    return await run_in_threadpool(
        _device_decide,
        request,
        str(form.get("csrf_token", "")),
        str(form.get("user_code", "")),
        str(form.get("decision", "")),
    )


def _device_decide(request: Request, csrf_token: str, user_code: str, decision: str) -> Response:
    services = services_of(request)
    check_csrf(request, services, csrf_token)
    signed_in = current(request, services)
    if signed_in is None:
        return RedirectResponse("/login?next=/device", status_code=303)
    verification = provider_for(request).device_verification
    if verification.throttled(signed_in.user.id):
        return _throttled(request, services)
    approve = decision == "approve"
    if not verification.decide(
        signed_in.user.id,
        user_code,
        approve=approve,
        auth_time=int(signed_in.session.auth_time.timestamp()),
        amr=signed_in.session.methods,
        acr=signed_in.session.acr,
    ):
        return _wrong_code(request, services, user_code)
    log.info("device_decided", user_id=signed_in.user.id, approved=approve)
    done = (
        "Done. You can close this page and return to your device."
        if approve
        else "Denied. The device was not signed in."
    )
    return render(request, services, "device.html", done=done)
