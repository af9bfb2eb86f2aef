"""`authbridge doctor` for GitHub sign-in (OAuth 2.0, no discovery): credentials set, the
REST API reachable through the configured proxy, and the callback URL to register."""

from __future__ import annotations

from authbridge.config.model import Settings
from authbridge.connectors.errors import ProviderUnavailable
from authbridge.connectors.github import GithubConnector
from authbridge.connectors.redirects import redirect_uri
from authbridge.doctor.report import Check

__all__ = ["check_github"]


def check_github(connector: GithubConnector, settings: Settings) -> list[Check]:
    name = connector.id
    if not connector.settings.client_id or not connector.settings.client_secret:
        return [
            Check(
                "config",
                name,
                "fail",
                "auth.github.clientId or clientSecret is not set",
                "copy both from the OAuth app (Settings > Developer settings > OAuth Apps)",
            )
        ]
    problem = connector.problem()
    if problem is not None:
        return [Check("config", name, "fail", problem)]
    checks = []
    url = connector.api_url + "/"
    proxy = connector.http.proxy(url)
    via = f" through proxy {proxy}" if proxy else ""
    try:
        response = connector.http.request("GET", url, what="GitHub API")
    except ProviderUnavailable as exc:
        checks.append(Check("api", name, "fail", f"{url}{via}: {exc.hint}"))
    else:
        # 200, or 401/403 from a GHES that wants authentication: the API answers.
        said = f"{url}{via} answered HTTP {response.status_code}"
        if response.is_success or response.status_code in (401, 403):
            checks.append(Check("api", name, "ok", said))
        else:
            fix = "set auth.github.apiUrl to the REST API (GHES: https://<host>/api/v3)"
            checks.append(Check("api", name, "fail", said, fix))
    uri = redirect_uri(settings, name, connector.landing)
    checks.append(
        Check(
            "redirect_uri",
            name,
            "ok",
            f"the OAuth app's Authorization callback URL must be {uri} "
            "(GitHub shows a mismatch only after sign-in, so it is not probed)",
        )
    )
    return checks
