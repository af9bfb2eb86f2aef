"""Three replicas of the real `authbridge serve` on one PostgreSQL database, behind a
round-robin balancer on loopback (issue 15, "Shown by"), as a Kubernetes Deployment behind
its Service.

The cluster is started once for the module, all three processes released together on an
empty database: one migration, no error, one bootstrap admin. Then SCIM writes (Users and
Groups, POST and PATCH) and token grants (client_credentials, and refresh rotations whose
access tokens are used at userinfo) run through the balancer from a few threads while one
replica is killed with SIGKILL and started again. Every acknowledged write (a 2xx received)
is read back through the other replicas; every request that did not get a 2xx must have
been in flight on the killed replica when it died (the balancer records which backend got
which X-Request-ID, and when). The figures are printed (`pytest -s`, and in the summary).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from sqlalchemy import create_engine, text

from authbridge.storage.database import engine_url
from tests.conftest import FIGURES
from tests.e2e.server import SETUP_LINK, AuthbridgeServer, run_cli
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
# Load before the kill, between the kill and the restart, and after the restarted replica
# is back in the balancer's rotation (seconds, at least: a slow machine runs until enough
# requests were made): short, so CI stays well under a minute.
WARM_UP, DOWN, AFTER = 3.0, 1.0, 3.0
ERROR_LEVELS = ("error", "critical")
REDIS_ENV = "AUTHBRIDGE_TEST_REDIS_URL"


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
        "SELECT u.username, r.role_name FROM users u LEFT JOIN user_roles r ON r.user_id = u.id",
    )
    assert users == [(ADMIN[0], "admin")]
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
        http = httpx.Client(base_url=self.cluster.url, timeout=30, follow_redirects=False)
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
        with httpx.Client(timeout=30, cookies=self.session) as http:
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
        self.call(
            http,
            "userinfo",
            "GET",
            self.cluster.endpoints["userinfo_endpoint"],
            headers={"authorization": f"Bearer {rotated['access_token']}"},
        )
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


def _sa_client(cluster: Cluster) -> tuple[str, str]:
    """A service account registered by the CLI against the shared database."""
    replica = cluster.replicas[0]
    result = run_cli(["service-accounts", "add", "loader"], replica.workdir, replica.env)
    assert result.returncode == 0, result.stderr
    return "sa-loader", result.stdout.strip().splitlines()[-1].strip()


def _scim_list(base_url: str, kind: str) -> dict[str, dict[str, Any]]:
    answer = httpx.get(
        f"{base_url}{SCIM}/{kind}", params={"count": 1000}, auth=SCIM_AUTH, timeout=30
    )
    assert answer.status_code == 200, answer.text[:300]
    listed = answer.json()
    assert listed["totalResults"] == len(listed["Resources"]), "more than one page"
    return {resource["id"]: resource for resource in listed["Resources"]}


def test_a_replica_killed_under_load_loses_no_acknowledged_write(
    cluster: Cluster, request: pytest.FixtureRequest
) -> None:
    load = Load(cluster, _sa_client(cluster))
    victim_index = 1
    victim = cluster.replicas[victim_index]
    assert victim.process is not None
    with ThreadPoolExecutor(WORKERS) as pool:
        workers = [pool.submit(load.run, number) for number in range(WORKERS)]
        time.sleep(WARM_UP)
        _wait(lambda: len(load.calls) >= 30, 120, "the load never got going")
        killed = time.monotonic()
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(10)
        dead = time.monotonic()
        time.sleep(DOWN)
        mark = len(victim.lines)
        restarting = time.monotonic()
        victim.start(timeout=180)
        restart_seconds = time.monotonic() - restarting
        _wait(lambda: cluster.proxy.ready[victim_index], 10, "the balancer never took it back")
        back = time.monotonic()
        time.sleep(AFTER)
        _wait(lambda: len(cluster.proxy.served(victim_index, back)) >= 10, 120, "not served")
        load.stop.set()
        for worker in workers:
            worker.result(timeout=60)

    in_flight = _in_flight_on(cluster.proxy, victim_index, killed, dead)
    failed = [call for call in load.calls if call.status is None or call.status >= 400]
    unexplained = [call for call in failed if call.request_id not in in_flight]
    assert unexplained == [], unexplained
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
        f"{len(in_flight)} requests in flight on the SIGKILLed replica; restart to ready "
        f"{restart_seconds:.1f} s, then {len(served_again)} requests served by it; "
        f"{len(load.chains)} refresh families, {load.chains_restarted} restarted after the kill",
    )
