"""Three replicas of the real `authbridge serve` on one PostgreSQL database, behind a
round-robin balancer on loopback (issue 15, "Shown by"), as a Kubernetes Deployment behind
its Service.

The cluster is started once for the module, all three processes released together on an
empty database: one migration, no error, one bootstrap admin. Then SCIM writes (Users and
Groups, POST and PATCH) and token grants (client_credentials, and refresh rotations whose
access tokens are used at userinfo) run through the balancer from a few threads while one
replica is killed with SIGKILL and started again. Every acknowledged write (a 2xx received)
is read back through every replica, the restarted one included; every request that got no
answer or an error status (4xx, 5xx) must have been in flight on the killed replica when
it died (the balancer records which backend got which X-Request-ID, and when). Then a key
rotation, a client secret rotation, a SCIM deactivation and a robot revocation are each
watched for on every replica and in a service protected by authbridge.middleware following
the revocation feed, and the delays are measured. The figures are printed (`pytest -s`,
and in the run's summary).

Longer than 400 lines because the three tests share one cluster (module scope: starting
three replicas is most of the cost) and the load's bookkeeping that its assertions read.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import jwt
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from authbridge.cli.main import app as cli
from authbridge.directory.passwords import PasswordHashing
from authbridge.middleware import (
    AUTHBRIDGE_JWKS_PATH,
    AUTHBRIDGE_REVOCATIONS_PATH,
    TokenVerifier,
    VerifierConfig,
)
from authbridge.middleware.wsgi import JwtWsgiMiddleware
from authbridge.storage import Storage
from authbridge.storage.database import engine_url
from tests.conftest import FIGURES
from tests.e2e.server import SETUP_LINK, AuthbridgeServer
from tests.e2e.tcp_proxy import RoundRobinProxy
from tests.e2e.visitor import Visitor

pytestmark = pytest.mark.postgres

REPLICAS = 3
WORKERS = 4
ADMIN = ("ops@example.com", "a long bootstrap passphrase for replicas")
SCIM_AUTH = ("okta", "scim-secret-for-the-replica-test")
CLIENT = ("webapp", "replica-test-secret-0123456789abcdef")
CALLBACK = "https://rp.example/callback"
SCIM = "/v1/scim/v2/okta"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
# Load before the kill (requests made, every replica having served), between the kill and
# the restart (requests answered by the others), and after the restarted replica is back in
# the balancer's rotation (requests it served): counted, not timed, so a fast machine does
# not sleep and a slow one runs until enough was done.
WARM_UP, DOWN, AFTER = 30, 10, 10
ERROR_LEVELS = ("error", "critical")
REDIS_ENV = "AUTHBRIDGE_TEST_REDIS_URL"
KEY_RELOAD = 10
BOUND = 10.0  # seconds: the middleware's revocationBound (the default)
OBSERVE = 60.0  # seconds to wait for a change to be seen before failing


@dataclass
class Cluster:
    replicas: list[AuthbridgeServer]
    proxy: RoundRobinProxy
    database_url: str
    workdir: Path
    start_seconds: float
    endpoints: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.proxy.url


def _report(request: pytest.FixtureRequest, line: str) -> None:
    """Print `line` (seen with -s) and record it for the run's summary (tests/conftest.py)."""
    print(line)
    request.node.user_properties.append((FIGURES, line))


@pytest.fixture(scope="module")
def cluster(
    e2e_postgres_module_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("replicas")
    config = workdir / "authbridge.yaml"
    config.write_text(
        json.dumps(
            {
                "clients": {CLIENT[0]: {"secret": CLIENT[1], "redirectUris": [CALLBACK]}},
                "scim": {"okta": {"authCode": ":".join(SCIM_AUTH)}},
            }
        ),
        encoding="utf-8",
    )
    password = workdir / "admin-password"
    password.write_text(ADMIN[1] + "\n", encoding="utf-8")
    env = {
        "AUTHBRIDGE_CONFIG": str(config),
        "AUTHBRIDGE_BOOTSTRAP_ADMIN_EMAIL": ADMIN[0],
        "AUTHBRIDGE_BOOTSTRAP_ADMIN_PASSWORD_FILE": str(password),
        # Three replicas (and other suites) share one PostgreSQL server's connections.
        "DATABASE__POOL_SIZE": "4",
    }
    # Over the harness's 1 s: the periodic key reload as the fallback only, so a rotation
    # seen by every replica well within it came by the change notification. A new key
    # signs KEY_RELOAD seconds after it is published.
    keys = {
        "TOKENS__KEY_RELOAD_INTERVAL": str(KEY_RELOAD),
        "TOKENS__KEY_PUBLISH_AHEAD": str(KEY_RELOAD),
    }
    if os.environ.get(REDIS_ENV):
        # Shared counters and caches in Redis too, where CI runs one (redis.url).
        env["REDIS__URL"] = os.environ[REDIS_ENV]
    replicas = []
    for number in range(REPLICAS):
        directory = workdir / f"replica-{number}"
        directory.mkdir()
        replicas.append(AuthbridgeServer(directory, e2e_postgres_module_url, **env))
    proxy = RoundRobinProxy([("127.0.0.1", replica.port) for replica in replicas])
    for replica in replicas:
        replica.env.update(keys)
        # One issuer for all: tokens, cookies and CSRF origins are the balancer's.
        replica.env["SERVER__ISSUER"] = proxy.url
    proxy.restore()
    started = time.monotonic()
    try:
        # Released together, as a Deployment's pods on an empty database.
        with ThreadPoolExecutor(REPLICAS) as pool:
            list(pool.map(lambda replica: replica.start(timeout=180), replicas))
        running = Cluster(
            replicas, proxy, e2e_postgres_module_url, workdir, time.monotonic() - started
        )
        _wait(lambda: all(proxy.ready), 10, "the balancer never saw every replica ready")
        running.endpoints = httpx.get(
            proxy.url + "/.well-known/openid-configuration", timeout=10
        ).json()
        yield running
    finally:
        for replica in replicas:
            replica.stop()
        proxy.close()


def _wait(condition: Any, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.05)


def _log_problems(lines: list[str]) -> list[str]:
    """Lines of a replica's output that report an error: a JSON log record at error level
    or above, or a Python traceback."""
    problems = []
    for line in lines:
        if "Traceback" in line:
            problems.append(line)
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("level") in ERROR_LEVELS:
            problems.append(line)
    return problems


def _query(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(engine_url(database_url))
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]
    finally:
        engine.dispose()


def test_three_replicas_start_together_migrate_once_and_bootstrap_one_admin(
    cluster: Cluster, request: pytest.FixtureRequest
) -> None:
    # One migration: the upgrade is one transaction, so when exactly one replica ran it,
    # every table, index and sequence of the schema was created by that one transaction
    # (PostgreSQL's xmin of their pg_class rows), and alembic_version was written by it too.
    creators = _query(
        cluster.database_url,
        "SELECT DISTINCT xmin::text FROM pg_class WHERE relnamespace = 'public'::regnamespace",
    )
    versions = _query(cluster.database_url, "SELECT version_num, xmin::text FROM alembic_version")
    assert len(creators) == 1, f"the schema was created by {len(creators)} transactions"
    assert versions and {row[1] for row in versions} == {creators[0][0]}
    assert len({row[0] for row in versions}) == len(versions)

    # One bootstrap admin, created by one replica; the others found it.
    users = _query(
        cluster.database_url,
        "SELECT u.username, b.role, b.scope FROM users u"
        " LEFT JOIN role_bindings b ON b.user_id = u.id",
    )
    assert users == [(ADMIN[0], "admin", "system")]
    # One first signing key, made by one replica; the others signed with it from the start
    # (a key of each signed at once, unpublished by the others until their next reload).
    keys = _query(cluster.database_url, "SELECT kid FROM signing_keys")
    assert len(keys) == 1, f"{len(keys)} first signing keys"
    created = [r for r in cluster.replicas if "bootstrap_admin_created" in r.output]
    assert len(created) == 1
    for replica in cluster.replicas:
        assert _log_problems(replica.lines) == [], replica.output
        assert "UniqueViolation" not in replica.output
        assert not SETUP_LINK.search(replica.output)  # an admin exists: no setup link
        assert ADMIN[1] not in replica.output
    # The admin signs in through the balancer: whichever replicas serve the form, the
    # sign-in and the account page, the session and CSRF token cross them.
    visitor = Visitor(cluster.url)
    try:
        signed_in = visitor.sign_in(*ADMIN)
        assert signed_in.status_code == 303, signed_in.text[:300]
        assert ADMIN[0] in visitor.get("/account").text
    finally:
        visitor.close()
    _report(
        request,
        f"replicas: {REPLICAS} started together on an empty PostgreSQL database in "
        f"{cluster.start_seconds:.1f} s; 1 migration transaction; 1 bootstrap admin",
    )


# -- the load -------------------------------------------------------------------------------


@dataclass
class Call:
    request_id: str
    kind: str
    status: int | None  # None: no response (the connection ended)
    error: str = ""


@dataclass
class Chain:
    """One refresh-token family, rotated through the balancer."""

    refresh_token: str
    backends: set[int] = field(default_factory=set)
    rotations: int = 0


class Load:
    """Clients of the cluster: SCIM writes and token grants, every request on a connection
    of its own (so the balancer spreads them) and tagged with an X-Request-ID."""

    def __init__(self, cluster: Cluster, sa_client: tuple[str, str]) -> None:
        self.cluster = cluster
        self.sa_client = sa_client
        self.calls: list[Call] = []
        self.users: dict[str, dict[str, Any]] = {}  # id -> what was acknowledged
        self.maybe_given: dict[str, set[str]] = {}  # id -> PATCHed values with no answer
        self.groups: dict[str, set[str]] = {}  # id -> acknowledged members
        self.maybe_members: dict[str, set[str]] = {}
        self.chains: list[Chain] = []
        self.chains_restarted = 0
        self.stop = threading.Event()
        self._lock = threading.Lock()
        # One signed-in browser session (argon2 once), used by every worker's code flow.
        browser = Visitor(cluster.url)
        assert browser.sign_in(*ADMIN).status_code == 303
        self.session = httpx.Cookies(browser.http.cookies)
        browser.close()
        self.jwks = jwt.PyJWKSet.from_dict(
            httpx.get(cluster.endpoints["jwks_uri"], timeout=10).json()
        )

    def warm(self, calls: int) -> bool:
        """At least `calls` requests made, every replica served some, and a refresh family
        crossed replicas."""
        proxy = self.cluster.proxy
        return (
            len(self.calls) >= calls
            and all(proxy.served(n) for n in range(len(proxy.backends)))
            and any(len(chain.backends) > 1 for chain in list(self.chains))
        )

    # -- one request ----------------------------------------------------------------------
    def call(
        self, http: httpx.Client, kind: str, method: str, url: str, **options: Any
    ) -> httpx.Response | None:
        request_id = secrets.token_hex(12)
        headers = {"x-request-id": request_id, "connection": "close"}
        headers.update(options.pop("headers", {}))
        try:
            response = http.request(method, url, headers=headers, **options)
        except httpx.TransportError as exc:
            with self._lock:
                self.calls.append(Call(request_id, kind, None, type(exc).__name__))
            return None
        with self._lock:
            self.calls.append(Call(request_id, kind, response.status_code, response.text[:200]))
        return response

    # -- a worker -------------------------------------------------------------------------
    def run(self, number: int) -> None:
        # Generous: a request slowed by a loaded machine is not a failure of the cluster.
        http = httpx.Client(base_url=self.cluster.url, timeout=120, follow_redirects=False)
        chain = self.new_chain()
        mine: list[str] = []
        teams: list[str] = []
        step = 0
        try:
            while not self.stop.is_set():
                kind = step % 5
                step += 1
                if kind == 0 or not mine:
                    self.create_user(http, f"w{number}-{step}@example.com", mine)
                elif kind == 1:
                    self.patch_user(http, mine[-1], f"given-{step}")
                elif kind == 2:
                    self.group_write(http, f"team-{number}-{step}", mine, teams)
                elif kind == 3:
                    self.client_credentials(http)
                elif chain is None or not self.refresh(http, chain):
                    # The rotation's answer was lost with the killed replica: whether it was
                    # committed is unknown, so a new family starts (no retry, which would be
                    # reuse and revoke the family, RFC 9700 §4.14.2).
                    chain = self.new_chain()
                    with self._lock:
                        self.chains_restarted += 1
        finally:
            http.close()

    def create_user(self, http: httpx.Client, username: str, mine: list[str]) -> None:
        body = {
            "schemas": [USER],
            "userName": username,
            "name": {"givenName": "given-0", "familyName": "Replica"},
            "emails": [{"value": username, "primary": True}],
            "active": True,
        }
        answer = self.call(
            http, "scim-create-user", "POST", SCIM + "/Users", json=body, auth=SCIM_AUTH
        )
        if answer is not None and answer.status_code == 201:
            user = answer.json()
            with self._lock:
                self.users[user["id"]] = {"userName": username, "givenName": "given-0"}
            mine.append(user["id"])

    def patch_user(self, http: httpx.Client, user_id: str, given: str) -> None:
        body = {
            "schemas": [PATCH],
            "Operations": [{"op": "replace", "path": "name.givenName", "value": given}],
        }
        answer = self.call(
            http, "scim-patch-user", "PATCH", f"{SCIM}/Users/{user_id}", json=body, auth=SCIM_AUTH
        )
        with self._lock:
            if answer is not None and answer.status_code == 200:
                self.users[user_id]["givenName"] = given
                self.maybe_given.pop(user_id, None)
            else:
                self.maybe_given.setdefault(user_id, set()).add(given)

    def group_write(self, http: httpx.Client, name: str, mine: list[str], teams: list[str]) -> None:
        if not teams or len(teams) * 3 < len(mine):
            body = {"schemas": [GROUP], "displayName": name, "members": [{"value": mine[-1]}]}
            answer = self.call(
                http, "scim-create-group", "POST", SCIM + "/Groups", json=body, auth=SCIM_AUTH
            )
            if answer is not None and answer.status_code == 201:
                with self._lock:
                    self.groups[answer.json()["id"]] = {mine[-1]}
                teams.append(answer.json()["id"])
            return
        team, member = teams[-1], mine[-1]
        body = {
            "schemas": [PATCH],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": member}]}],
        }
        answer = self.call(
            http, "scim-patch-group", "PATCH", f"{SCIM}/Groups/{team}", json=body, auth=SCIM_AUTH
        )
        with self._lock:
            if answer is not None and answer.status_code in (200, 204):
                self.groups[team].add(member)
            else:
                self.maybe_members.setdefault(team, set()).add(member)

    def client_credentials(self, http: httpx.Client) -> None:
        answer = self.call(
            http,
            "grant-client-credentials",
            "POST",
            self.cluster.endpoints["token_endpoint"],
            data={"grant_type": "client_credentials"},
            auth=self.sa_client,
        )
        if answer is not None and answer.status_code == 200:
            # Verified here with PyJWT against the JWKS: whichever replica signed it.
            token = answer.json()["access_token"]
            key = self.jwks[jwt.get_unverified_header(token)["kid"]]
            jwt.decode(
                token,
                key.key,
                algorithms=["ES256"],
                audience=self.cluster.url,
                issuer=self.cluster.url,
            )

    def new_chain(self) -> Chain | None:
        """Authorization code + PKCE (RFC 7636) through the balancer: a refresh family."""
        verifier = secrets.token_urlsafe(48)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        params = {
            "response_type": "code",
            "client_id": CLIENT[0],
            "redirect_uri": CALLBACK,
            "scope": "openid email",
            "state": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        with httpx.Client(timeout=120, cookies=self.session) as http:
            answer = self.call(
                http,
                "authorize",
                "GET",
                self.cluster.endpoints["authorization_endpoint"],
                params=params,
            )
            if answer is None or answer.status_code != 302:
                return None
            code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
            token = self.call(
                http,
                "grant-authorization-code",
                "POST",
                self.cluster.endpoints["token_endpoint"],
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": CALLBACK,
                    "code_verifier": verifier,
                },
                auth=CLIENT,
            )
        if token is None or token.status_code != 200:
            return None
        chain = Chain(token.json()["refresh_token"])
        with self._lock:
            self.chains.append(chain)
        return chain

    def refresh(self, http: httpx.Client, chain: Chain) -> bool:
        """One rotation (RFC 6749 §6), its access token used at userinfo; False when the
        answer was lost."""
        answer = self.call(
            http,
            "grant-refresh-token",
            "POST",
            self.cluster.endpoints["token_endpoint"],
            data={"grant_type": "refresh_token", "refresh_token": chain.refresh_token},
            auth=CLIENT,
        )
        if answer is None or answer.status_code != 200:
            return False
        rotated = answer.json()
        chain.refresh_token = rotated["refresh_token"]
        chain.rotations += 1
        route = self.cluster.proxy.routes.get(answer.request.headers["x-request-id"])
        used = self.call(
            http,
            "userinfo",
            "GET",
            self.cluster.endpoints["userinfo_endpoint"],
            headers={"authorization": f"Bearer {rotated['access_token']}"},
        )
        if used is not None and used.status_code != 200:
            # What a refusal needs explained: the key that signed and the replica that did.
            kid = jwt.get_unverified_header(rotated["access_token"]).get("kid")
            signer = route.backend if route is not None else "?"
            request_id = used.request.headers["x-request-id"]
            with self._lock:
                call = next(c for c in reversed(self.calls) if c.request_id == request_id)
                call.error += f" [token kid {kid}, refresh answered by replica {signer}]"
        if route is not None:
            chain.backends.add(route.backend)
        return True


def _in_flight_on(proxy: RoundRobinProxy, backend: int, killed: float, dead: float) -> set[str]:
    """Request ids the balancer had sent to `backend` on connections still open when it was
    killed (opened before it was dead, not closed before the signal)."""
    return {
        route.request_id
        for route in proxy.served(backend)
        if route.opened <= dead and (route.closed is None or route.closed >= killed)
    }


def _explain(cluster: Cluster, calls: list[Call], killed: float) -> str:
    """Why requests failed, from the balancer's routes and the replicas' own logs: each
    call's replica and time (seconds after the kill), its access log line there, and what
    key set each replica publishes now."""
    lines = []
    for call in calls:
        route = cluster.proxy.routes.get(call.request_id)
        where = (
            f"replica {route.backend}, opened {route.opened - killed:+.2f} s"
            if route is not None
            else "no route"
        )
        lines.append(f"{call.kind} {call.status} ({where}): {call.error}")
        if route is not None:
            lines.extend(
                "    " + hit for hit in cluster.replicas[route.backend].lines_with(call.request_id)
            )
    for number, replica in enumerate(cluster.replicas):
        try:
            kids = [
                k["kid"]
                for k in httpx.get(replica.url + AUTHBRIDGE_JWKS_PATH, timeout=10).json()["keys"]
            ]
        except httpx.HTTPError as exc:
            kids = [type(exc).__name__]
        lines.append(f"replica {number} publishes {kids}; its log: {replica.log_path}")
    return "\n".join(lines)


def _cli(cluster: Cluster, *args: str) -> str:
    """`authbridge <args>` as an operator runs it beside the replicas (their environment:
    the same database and change bus), in this process: the same code as the console
    script without its ~3.5 s of interpreter start, which six commands would add to CI."""
    env: dict[str, str | None] = {key: None for key in os.environ}
    env.update(cluster.replicas[0].env)
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def sa_client(cluster: Cluster) -> list[str]:
    """A service account registered by the CLI against the shared database: [id, secret]
    (the secret rotation test replaces the secret)."""
    printed = _cli(cluster, "service-accounts", "add", "loader")
    return ["sa-loader", printed.strip().splitlines()[-1].strip()]


def _scim_list(base_url: str, kind: str) -> dict[str, dict[str, Any]]:
    answer = httpx.get(
        f"{base_url}{SCIM}/{kind}", params={"count": 1000}, auth=SCIM_AUTH, timeout=30
    )
    assert answer.status_code == 200, answer.text[:300]
    listed = answer.json()
    assert listed["totalResults"] == len(listed["Resources"]), "more than one page"
    return {resource["id"]: resource for resource in listed["Resources"]}


def test_a_replica_killed_under_load_loses_no_acknowledged_write(
    cluster: Cluster, sa_client: list[str], request: pytest.FixtureRequest
) -> None:
    load = Load(cluster, (sa_client[0], sa_client[1]))
    victim_index = 1
    victim = cluster.replicas[victim_index]
    assert victim.process is not None
    started = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as pool:
        workers = [pool.submit(load.run, number) for number in range(WORKERS)]
        # Events, not sleeps: the load is going and has crossed replicas (what the checks
        # below read), then the two others answer it while the victim is down.
        _wait(lambda: load.warm(WARM_UP), 120, "the load never got going")
        warm_seconds = time.monotonic() - started
        killed = time.monotonic()
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(10)
        dead = time.monotonic()
        others = [n for n in range(REPLICAS) if n != victim_index]
        _wait(
            lambda: sum(len(cluster.proxy.served(n, dead)) for n in others) >= DOWN,
            120,
            "the other replicas did not take the load",
        )
        mark = len(victim.lines)
        restarting = time.monotonic()
        victim.start(timeout=180)
        restart_seconds = time.monotonic() - restarting
        _wait(lambda: cluster.proxy.ready[victim_index], 10, "the balancer never took it back")
        back = time.monotonic()
        served = lambda: len(cluster.proxy.served(victim_index, back))  # noqa: E731
        with contextlib.suppress(AssertionError):
            # Over as soon as no worker is left to send anything (one raised).
            _wait(lambda: served() >= AFTER or all(w.done() for w in workers), 120, "")
        load.stop.set()
        load_seconds = time.monotonic() - started
        if served() < AFTER:
            crashed = [repr(w.exception(timeout=60)) for w in workers if w.exception(timeout=60)]
            raise AssertionError(
                f"the restarted replica was not served: {served()} connections since it was "
                f"back; balancer readiness {cluster.proxy.ready}; workers that raised: "
                f"{crashed}\n" + _explain(cluster, [], killed)
            )
        for worker in workers:
            worker.result(timeout=60)

    in_flight = _in_flight_on(cluster.proxy, victim_index, killed, dead)
    failed = [call for call in load.calls if call.status is None or call.status >= 400]
    unexplained = [call for call in failed if call.request_id not in in_flight]
    assert unexplained == [], _explain(cluster, unexplained, killed)
    server_errors = [call for call in load.calls if call.status and call.status >= 500]

    # Every acknowledged write, read back through each replica (never only the one that
    # acknowledged it), the restarted one included.
    for replica in cluster.replicas:
        users = _scim_list(replica.url, "Users")
        for user_id, acked in load.users.items():
            assert user_id in users, f"acknowledged user {acked['userName']} is lost"
            assert users[user_id]["userName"] == acked["userName"]
            given = users[user_id]["name"]["givenName"]
            assert given == acked["givenName"] or given in load.maybe_given.get(user_id, ())
        groups = _scim_list(replica.url, "Groups")
        for group_id, members in load.groups.items():
            assert group_id in groups, "an acknowledged group is lost"
            listed = {member["value"] for member in groups[group_id].get("members", [])}
            assert members <= listed <= members | load.maybe_members.get(group_id, set())

    # Refresh families crossed replicas; one more rotation on each replica in turn works.
    assert any(len(chain.backends) > 1 for chain in load.chains)
    chain = max(load.chains, key=lambda c: c.rotations)
    for replica in cluster.replicas:
        rotated = httpx.post(
            replica.url + "/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": chain.refresh_token},
            auth=CLIENT,
            timeout=30,
        )
        assert rotated.status_code == 200, rotated.text
        chain.refresh_token = rotated.json()["refresh_token"]

    # The restarted replica came back quietly and served its share through the balancer.
    served_again = {route.request_id for route in cluster.proxy.served(victim_index, back)}
    assert served_again
    assert all(c.status and c.status < 400 for c in load.calls if c.request_id in served_again)
    for replica in cluster.replicas:
        lines = replica.lines[mark:] if replica is victim else replica.lines
        assert _log_problems(lines) == [], "\n".join(_log_problems(lines))

    kinds: dict[str, int] = {}
    for call in load.calls:
        kinds[call.kind] = kinds.get(call.kind, 0) + 1
    acked = sum(1 for call in load.calls if call.status and call.status < 400)
    _report(
        request,
        f"replicas under load: {len(load.calls)} requests through the balancer "
        f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}); {acked} answered, "
        f"lost 0 ({len(load.users)} users, {len(load.groups)} groups read back on every "
        f"replica); {len(server_errors)} 5xx, {len(failed)} without an answer, all among the "
        f"{len(in_flight)} requests in flight on the SIGKILLed replica; load {load_seconds:.1f} s "
        f"(warm-up {warm_seconds:.1f} s, restart to ready {restart_seconds:.1f} s), then "
        f"{len(served_again)} requests served by it; "
        f"{len(load.chains)} refresh families, {load.chains_restarted} restarted after the kill",
    )


# -- changes seen everywhere --------------------------------------------------------------


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@dataclass
class Service:
    """A platform service protected by authbridge.middleware (WSGI), following the
    revocation feed through the balancer."""

    url: str
    verifier: TokenVerifier
    server: WSGIServer

    def accepts(self, token: str) -> bool:
        answer = httpx.get(self.url, headers={"authorization": f"Bearer {token}"}, timeout=10)
        assert answer.status_code in (200, 401), answer.text
        return answer.status_code == 200


@pytest.fixture(scope="module")
def service(cluster: Cluster) -> Iterator[Service]:
    verifier = TokenVerifier(
        VerifierConfig.from_mapping(
            {
                "publicKeys": [cluster.url + AUTHBRIDGE_JWKS_PATH],
                "audiences": [cluster.url],
                "revocationFeedUrl": cluster.url + AUTHBRIDGE_REVOCATIONS_PATH,
                "revocationBound": BOUND,
            }
        )
    )

    def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("content-type", "text/plain")])
        return [str(environ.get("REMOTE_USER", "")).encode()]

    server = make_server(
        "127.0.0.1",
        0,
        JwtWsgiMiddleware(hello, verifier),
        server_class=_ThreadingServer,
        handler_class=_Quiet,
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Service(f"http://127.0.0.1:{server.server_port}/", verifier, server)
    finally:
        server.shutdown()
        verifier.close()


def _observe(checks: dict[str, Any], since: float) -> dict[str, float]:
    """Seconds from `since` (monotonic) until each check first held, all polled at once
    every 50 ms; fails when one did not hold within OBSERVE seconds."""

    def first(name: str) -> float:
        while not checks[name]():
            if time.monotonic() - since > OBSERVE:
                raise AssertionError(f"{name}: not seen within {OBSERVE:.0f} s")
            time.sleep(0.05)
        return time.monotonic() - since

    with ThreadPoolExecutor(len(checks)) as pool:
        futures = {name: pool.submit(first, name) for name in checks}
        return {name: future.result() for name, future in futures.items()}


def _inactive(url: str, token: str) -> bool:
    """RFC 7662 §2.2 at one replica: is the access token no longer active?"""
    answer = httpx.post(url + "/oauth2/introspect", data={"token": token}, auth=CLIENT)
    assert answer.status_code == 200, answer.text
    return answer.json()["active"] is False


def _grant(url: str, client: tuple[str, str]) -> httpx.Response:
    return httpx.post(
        url + "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=client,
        timeout=30,
    )


def _figures(delays: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in delays.items())


def test_changes_reach_every_replica_and_a_protected_service_within_the_bound(
    cluster: Cluster,
    sa_client: list[str],
    service: Service,
    request: pytest.FixtureRequest,
) -> None:
    replicas = {f"replica {n}": r.url for n, r in enumerate(cluster.replicas)}
    # A robot token, and a SCIM-provisioned person signed in (the password set as an
    # operator's tool would: SCIM never stores one), each accepted everywhere first.
    printed = _cli(cluster, "robots", "add", "nightly-export", "--lifetime", "30d")
    robot = printed.strip().splitlines()[-1].strip()
    robot_jti = re.search(r"token id (\S+),", printed).group(1)  # type: ignore[union-attr]
    person = httpx.post(
        cluster.url + SCIM + "/Users",
        json={"schemas": [USER], "userName": "dana@example.com", "active": True},
        auth=SCIM_AUTH,
        timeout=30,
    )
    assert person.status_code == 201, person.text
    person_id = person.json()["id"]
    storage = Storage.open(cluster.database_url)
    try:
        storage.users.set_password_hash(person_id, PasswordHashing().hash(ADMIN[1]))
    finally:
        storage.db.dispose()
    dana = Visitor(cluster.url)
    assert dana.sign_in("dana@example.com", ADMIN[1]).status_code == 303
    person_token = dana.account_token()
    dana.close()
    for token in (robot, person_token):
        assert service.accepts(token)
        for url in replicas.values():
            assert not _inactive(url, token)
    report: list[str] = []

    # 1. Key rotation: every replica publishes the new key in its JWKS.
    old_kids = {k["kid"] for k in httpx.get(cluster.endpoints["jwks_uri"]).json()["keys"]}
    rotated = _cli(cluster, "keys", "rotate")
    published = time.monotonic()
    new_kid = next(k for k in re.findall(r"[\w-]{16,}", rotated) if k not in old_kids)

    def publishes(url: str) -> Any:
        jwks = url + AUTHBRIDGE_JWKS_PATH
        return lambda: new_kid in {k["kid"] for k in httpx.get(jwks).json()["keys"]}

    seen = _observe({name: publishes(url) for name, url in replicas.items()}, published)
    report.append(f"key rotation published: {_figures(seen)}")

    # 2. Client secret rotation (old secret refused at once): the new one taken everywhere.
    old = (sa_client[0], sa_client[1])
    assert all(_grant(url, old).status_code == 200 for url in replicas.values())
    printed = _cli(cluster, "clients", "rotate-secret", sa_client[0], "--previous-expires-in", "0")
    changed = time.monotonic()
    sa_client[1] = printed.strip().splitlines()[-1].strip()
    new = (sa_client[0], sa_client[1])

    def rotated_on(url: str) -> Any:
        return lambda: _grant(url, old).status_code == 401 and _grant(url, new).status_code == 200

    seen = _observe({name: rotated_on(url) for name, url in replicas.items()}, changed)
    report.append(f"client secret rotation: {_figures(seen)}")

    # 3. SCIM deactivation, 4. robot revocation: refused by every replica and by the
    # service following the feed (its access token still unexpired and correctly signed).
    deactivated = httpx.patch(
        f"{cluster.url}{SCIM}/Users/{person_id}",
        json={
            "schemas": [PATCH],
            "Operations": [{"op": "replace", "path": "active", "value": False}],
        },
        auth=SCIM_AUTH,
        timeout=30,
    )
    assert deactivated.status_code == 200, deactivated.text
    acknowledged = time.monotonic()
    checks = {name: lambda url=url: _inactive(url, person_token) for name, url in replicas.items()}
    checks["service"] = lambda: not service.accepts(person_token)
    seen = _observe(checks, acknowledged)
    report.append(f"SCIM deactivation: {_figures(seen)}")

    _cli(cluster, "robots", "revoke", robot_jti)
    revoked = time.monotonic()
    checks = {name: lambda url=url: _inactive(url, robot) for name, url in replicas.items()}
    checks["service"] = lambda: not service.accepts(robot)
    seen = _observe(checks, revoked)
    report.append(f"robot revocation: {_figures(seen)}")

    # 1 (end). Once the new key signs, every replica's tokens carry it, and the service
    # (which had only the old key) takes them: an unknown kid makes it fetch the JWKS.
    def signs_with_new_key(url: str) -> Any:
        def check() -> bool:
            token = _grant(url, new).json()["access_token"]
            return bool(jwt.get_unverified_header(token)["kid"] == new_kid)

        return check

    _observe({n: signs_with_new_key(url) for n, url in replicas.items()}, published)
    token = _grant(cluster.replicas[0].url, new).json()["access_token"]
    assert service.accepts(token)
    report.append(
        "after the publish-ahead every replica signs with the new key and the service takes "
        "its tokens"
    )
    _report(
        request,
        f"changes seen (seconds after the command returned; service bound {BOUND:.0f} s, "
        f"key reload fallback {KEY_RELOAD} s): " + "; ".join(report),
    )
