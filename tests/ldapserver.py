"""A real OpenLDAP `slapd` on loopback for the LDAP connector's tests, started by the tests.

One server per pytest process (session scope: one per xdist worker), in a temporary
directory, as the user running the tests: plain LDAP with StartTLS offered under a test CA
made here (`cryptography`), the memberof overlay (so groupOfNames `member` shows as the
users' `memberOf`), and the fixture directory `tests/data/ldap/directory.ldif` loaded over
LDAP with `ldapadd`. Debian's `slapd` and `ldap-utils` (`.ci/run` installs them): without
them the tests skip with the reason, and fail under CI=true.

The server is deliberately permissive where real ones sometimes are: `allow
bind_anon_dn` lets a bind with a DN and an empty password succeed as anonymous (the
unauthenticated bind of RFC 4513 §5.1.2), so a test can show authbridge refuses that
itself rather than relying on the directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.certificates import ca_signed

__all__ = ["BASE", "SERVICE_DN", "SERVICE_PW", "Slapd", "closed_port", "slapd", "unavailable"]

SLAPD = Path("/usr/sbin/slapd")
LDAPADD = shutil.which("ldapadd") or "/usr/bin/ldapadd"
DATA = Path(__file__).parent / "data" / "ldap" / "directory.ldif"
BASE = "dc=example,dc=org"
ROOT_DN, ROOT_PW = f"cn=root,{BASE}", "root-secret"
SERVICE_DN, SERVICE_PW = f"cn=authbridge,ou=services,{BASE}", "service-secret"

CONFIG = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile {run}/slapd.pid
argsfile {run}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
TLSCACertificateFile {ca}
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}
allow bind_anon_cred bind_anon_dn

database mdb
maxsize 16777216
suffix "{base}"
rootdn "{root_dn}"
rootpw {root_pw}
directory {run}/db
overlay memberof

access to attrs=userPassword
    by anonymous auth
    by * none
access to *
    by dn.exact="{service_dn}" read
    by self read
    by * none
"""


def unavailable(reason: str) -> None:
    """Without slapd the tests skip on a developer's machine but fail in CI."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so the LDAP tests must run)")
    pytest.skip(reason)


def closed_port() -> int:
    """A loopback port nothing listens on (the directory is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Slapd:
    host: str
    port: int
    ca_file: Path

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def config(self, **overrides: Any) -> dict[str, Any]:
        """An LDAP connector block (Dex's keys) for this server: plain LDAP on loopback,
        users by uid or mail, groups by groupOfNames `member`; `overrides` replace keys."""
        config: dict[str, Any] = {
            "host": self.address,
            "insecureNoSSL": True,
            "bindDN": SERVICE_DN,
            "bindPW": SERVICE_PW,
            "usernamePrompt": "Example username",
            "userSearch": {
                "baseDN": f"ou=people,{BASE}",
                "filter": "(objectClass=inetOrgPerson)",
                "username": ["uid", "mail"],
                "idAttr": "uid",
                "emailAttr": "mail",
                "nameAttr": "cn",
            },
            "groupSearch": {
                "baseDN": f"ou=groups,{BASE}",
                "filter": "(objectClass=groupOfNames)",
                "userMatchers": [{"userAttr": "DN", "groupAttr": "member"}],
                "nameAttr": "cn",
            },
        }
        config.update(overrides)
        return config


def _wait_listening(port: int, process: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"slapd exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("slapd did not start listening within 20 s")


def _start(run: Path) -> tuple[subprocess.Popen[bytes], int]:
    """slapd on a free port (retried: another process may take the port in between)."""
    for _ in range(5):
        port = closed_port()
        process = subprocess.Popen(
            [
                str(SLAPD),
                "-d",
                "0",
                "-h",
                # 127.0.0.2 too: an address the certificate does not name.
                f"ldap://127.0.0.1:{port}/ ldap://127.0.0.2:{port}/",
                "-f",
                str(run / "slapd.conf"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=(run / "slapd.log").open("wb"),
        )
        try:
            _wait_listening(port, process, time.monotonic() + 20)
        except RuntimeError:
            process.kill()
            process.wait()
            continue
        return process, port
    log = (run / "slapd.log").read_text(errors="replace")
    raise RuntimeError(f"slapd did not start: {log[-2000:]}")


@pytest.fixture(scope="session")
def slapd() -> Iterator[Slapd]:
    if not SLAPD.exists():
        unavailable(f"{SLAPD} is missing (apt-get install slapd ldap-utils)")
    if not Path(LDAPADD).exists():
        unavailable("ldapadd is missing (apt-get install ldap-utils)")
    with tempfile.TemporaryDirectory(prefix="authbridge-slapd-") as tmp:
        run = Path(tmp)
        (run / "db").mkdir()
        ca, cert, key = ca_signed(run, "localhost")
        (run / "slapd.conf").write_text(
            CONFIG.format(
                run=run,
                ca=ca,
                cert=cert,
                key=key,
                base=BASE,
                root_dn=ROOT_DN,
                root_pw=ROOT_PW,
                service_dn=SERVICE_DN,
            )
        )
        process, port = _start(run)
        try:
            url = f"ldap://127.0.0.1:{port}/"
            subprocess.run(
                [LDAPADD, "-x", "-H", url, "-D", ROOT_DN, "-w", ROOT_PW, "-f", str(DATA)],
                check=True,
                capture_output=True,
                timeout=30,
            )
            yield Slapd("127.0.0.1", port, ca)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
