"""GitHub sign-in: OAuth 2.0 (RFC 6749 §4.1), not OpenID Connect.

GitHub issues no ID token, so who signed in comes from its REST API with the access token:
the numeric user id is the subject (a login can be renamed and then reused by someone
else), the email is the *verified primary* address from `/user/emails` (the profile email
is whatever the user typed), and organisations and teams become groups, as Dex does
(`org` and `org:team`). `allowedOrganizations` limits who may sign in at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from authbridge.config.model import GithubSettings
from authbridge.connectors.base import Landing, LoginRequest, SignupPolicy
from authbridge.connectors.discovery import check_url
from authbridge.connectors.errors import LoginFailed, ProviderUnavailable
from authbridge.connectors.http import OutboundHttp, json_object
from authbridge.connectors.identity import Identity
from authbridge.connectors.oidc import IDP_ERRORS, pkce_challenge

if TYPE_CHECKING:
    import httpx

__all__ = ["GithubConnector"]

SCOPES = "read:user user:email read:org"
MAX_PAGES = 10


class GithubConnector:
    type_name = "github"
    problem_may_wait = False  # endpoints are configured, not discovered

    def __init__(self, connector_id: str, settings: GithubSettings, *, http: OutboundHttp) -> None:
        self.id = connector_id
        self.settings = settings
        self.http = http
        self.display_name = settings.display_name or "GitHub"
        self.signup = SignupPolicy(
            allow_signup=settings.allow_signup, invite_only=settings.signup == "invite-only"
        )
        self.base_url = settings.base_url.rstrip("/")
        self.api_url = settings.api_url.rstrip("/")
        self.allowed_orgs = {o.casefold() for o in settings.allowed_organizations}

    @property
    def landing(self) -> Landing:
        return "callback"

    def problem(self) -> str | None:
        if not self.settings.client_id or not self.settings.client_secret:
            return "This identity provider is not configured correctly."
        try:
            check_url(self.base_url, "auth.github.baseUrl")
            check_url(self.api_url, "auth.github.apiUrl")
        except ProviderUnavailable as exc:
            return exc.message
        return None

    def authorization_url(self, login: LoginRequest) -> str:
        if self.problem():
            raise ProviderUnavailable(
                "This identity provider is not configured correctly.",
                "auth.github needs clientId and clientSecret.",
                code="idp_misconfigured",
            )
        params = {
            "client_id": self.settings.client_id or "",
            "redirect_uri": login.redirect_uri,
            "scope": SCOPES,
            "state": login.state,
            "code_challenge": pkce_challenge(login.code_verifier),
            "code_challenge_method": "S256",
            "allow_signup": "false",
        }
        return f"{self.base_url}/login/oauth/authorize?{urlencode(params)}"

    def handle_callback(self, login: LoginRequest, params: Mapping[str, str]) -> Identity:
        if "error" in params:
            error = params["error"][:64]
            message, hint = IDP_ERRORS.get(
                error, ("GitHub refused the sign-in.", f"GitHub answered {error!r}.")
            )
            raise LoginFailed(message, hint, code=error)
        code = params.get("code")
        if not code:
            raise LoginFailed(
                "GitHub's answer was incomplete.", "No `code` in the callback.", code="no_code"
            )
        token = self._exchange(login, code)
        headers = {
            "authorization": f"Bearer {token}",
            "accept": "application/vnd.github+json",
            "x-github-api-version": "2022-11-28",
        }
        user = self._get(f"{self.api_url}/user", headers)
        user_id = user.get("id")
        login_name = user.get("login")
        if not isinstance(user_id, int) or isinstance(user_id, bool) or not login_name:
            raise LoginFailed(
                "GitHub did not say who signed in.",
                "/user has no numeric id.",
                code="no_identity",
            )
        email = self._primary_email(headers)
        groups = self._groups(headers)
        if self.allowed_orgs and not any(g.casefold() in self.allowed_orgs for g in groups):
            raise LoginFailed(
                "Your GitHub account is not a member of an allowed organisation.",
                "The user is in none of auth.github.allowedOrganizations (or has not granted "
                "this OAuth app access to the organisation).",
                code="organization_not_allowed",
            )
        if self.allowed_orgs:
            groups = tuple(g for g in groups if g.partition(":")[0].casefold() in self.allowed_orgs)
        name = user.get("name")
        return Identity(
            connector_id=self.id,
            subject=str(user_id),
            username=str(login_name),
            email=email,
            email_verified=email is not None,
            name=name if isinstance(name, str) and name else None,
            groups=groups,
            claims={"id": user_id, "login": login_name, "name": name},
        )

    def _exchange(self, login: LoginRequest, code: str) -> str:
        response = self.http.request(
            "POST",
            f"{self.base_url}/login/oauth/access_token",
            what="GitHub token endpoint",
            data={
                "client_id": self.settings.client_id or "",
                "client_secret": self.settings.client_secret or "",
                "code": code,
                "redirect_uri": login.redirect_uri,
                "code_verifier": login.code_verifier,
            },
            headers={"accept": "application/json"},
        )
        body = json_object(response, "GitHub token endpoint")
        # GitHub answers errors with HTTP 200 and an `error` member.
        error = body.get("error")
        if error:
            if error == "incorrect_client_credentials":
                raise LoginFailed(
                    "GitHub refused this application's credentials.",
                    "Check auth.github.clientId and clientSecret.",
                    code="invalid_client",
                )
            if error == "redirect_uri_mismatch":
                raise LoginFailed(
                    "GitHub refused the sign-in request.",
                    f"The callback URL {login.redirect_uri} is not the OAuth app's.",
                    code="redirect_uri_mismatch",
                )
            raise LoginFailed(
                "The sign-in could not be completed; please try again.",
                f"GitHub's token endpoint answered {str(error)[:64]!r}.",
                code="invalid_grant",
            )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise LoginFailed(
                "GitHub's answer was incomplete.", "No access_token.", code="no_token"
            )
        return token

    def _get(self, url: str, headers: dict[str, str]) -> dict[str, Any]:
        return json_object(
            self.http.request("GET", url, what="GitHub API", headers=headers), "GitHub API"
        )

    def _list(self, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
        """All pages of a GitHub list (RFC 8288 `Link: rel="next"`), up to a bound."""
        items: list[dict[str, Any]] = []
        next_url: str | None = f"{url}?per_page=100"
        for _ in range(MAX_PAGES):
            if next_url is None:
                break
            response = self.http.request("GET", next_url, what="GitHub API", headers=headers)
            if response.status_code >= 400:
                raise ProviderUnavailable(
                    "GitHub answered with an error.",
                    f"GitHub API: HTTP {response.status_code} for {url}.",
                    code="idp_bad_response",
                )
            page = _json_list(response)
            items.extend(i for i in page if isinstance(i, dict))
            link = response.links.get("next", {}).get("url")
            next_url = link if link and link.startswith(self.api_url + "/") else None
        return items

    def _primary_email(self, headers: dict[str, str]) -> str | None:
        for entry in self._list(f"{self.api_url}/user/emails", headers):
            if entry.get("primary") is True and entry.get("verified") is True:
                email = entry.get("email")
                return email if isinstance(email, str) and "@" in email else None
        return None

    def _groups(self, headers: dict[str, str]) -> tuple[str, ...]:
        groups: list[str] = []
        for org in self._list(f"{self.api_url}/user/orgs", headers):
            if isinstance(org.get("login"), str):
                groups.append(org["login"])
        for team in self._list(f"{self.api_url}/user/teams", headers):
            owner = team.get("organization")
            org_login = owner.get("login") if isinstance(owner, dict) else None
            slug = team.get("slug")
            if isinstance(org_login, str) and isinstance(slug, str):
                groups.append(f"{org_login}:{slug}")
        return tuple(dict.fromkeys(groups))


def _json_list(response: httpx.Response) -> list[Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, list):
        raise ProviderUnavailable(
            "GitHub sent an unexpected answer.",
            "GitHub API did not answer a list.",
            code="idp_bad_response",
        )
    return body
