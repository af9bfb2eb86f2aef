"""deploy/Dockerfile, exercised as far as a machine without a Docker engine allows.

The build stage's RUN steps run as written, in order, with the image's paths (/src,
/wheels, /opt/authbridge) rebased on a temporary directory: the backend install, the wheel
build, a fresh venv, the wheel's install into it and the byte-code compilation. Offline:
pip gets no index (PIP_NO_INDEX); the wheel's dependencies come from this test run's own
environment, seen through a view that leaves authbridge itself out, so the package that runs
is the wheel's (templates, static files and migrations included, or the server fails).

The runtime stage's ENV, WORKDIR and USER are then applied: the CLI, `config check`,
`db upgrade` and `serve` run as UID 10001 (when the test runs as root, as CI does) with the
data directory the only path it owns, and the HEALTHCHECK's own command must see the server
healthy. What is not exercised: the base image, `apt`/`useradd` in it, COPY --from, and the
container runtime's read-only mount itself (here: a tree UID 10001 cannot write).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.deploy.conftest import DEPLOY, ROOT

pytestmark = pytest.mark.slow

DOCKERFILE = DEPLOY / "Dockerfile"
UID = 10001
SAMPLE_CONFIG = """\
server:
  issuer: http://127.0.0.1:8080
auth:
  local:
    enabled: true
  openidConnect:
    flow: code
    okta:
      enabled: true
      clientId: 0oa1okta
      discoveryUrl: https://dev-123.okta.com/.well-known/openid-configuration
"""


@dataclass
class Stage:
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [arg for kw, arg in self.instructions if kw == keyword]


def parse(text: str) -> list[Stage]:
    """The Dockerfile's stages and their instructions (continuations joined, comments out)."""
    logical, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, arg = line.strip().partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stages.append(Stage(arg.split(" AS ")[-1].strip() if " AS " in arg else "final"))
        elif stages:
            stages[-1].instructions.append((keyword, arg.strip()))
    return stages


def env_pairs(arg: str) -> dict[str, str]:
    return dict(token.split("=", 1) for token in shlex.split(arg))


class Paths:
    """The image's absolute paths rebased on a host directory."""

    def __init__(self, root: Path, mapping: dict[str, str]) -> None:
        self.root = root
        self.mapping = mapping

    def host(self, image_path: str) -> Path:
        for prefix in sorted(self.mapping, key=len, reverse=True):
            if image_path == prefix or image_path.startswith(prefix + "/"):
                return self.root / self.mapping[prefix] / image_path[len(prefix) :].lstrip("/")
        raise AssertionError(f"{image_path}: no host path for it in this test")

    def rewrite(self, command: str) -> str:
        pattern = "|".join(re.escape(p) for p in sorted(self.mapping, key=len, reverse=True))
        return re.sub(
            rf"(?<![\w/.-])({pattern})(?=[/\s\"':]|$)",
            lambda m: str(self.host(m.group(1))),
            command,
        )


def dependency_view(target: Path) -> Path:
    """This environment's site-packages without authbridge (its editable install): the
    wheel's dependencies, already installed, offline."""
    site = Path(sysconfig.get_paths()["purelib"])
    target.mkdir(parents=True)
    for entry in site.iterdir():
        lowered = entry.name.lower()
        if lowered.startswith(("authbridge", "__editable__")) or entry.suffix == ".pth":
            continue
        (target / entry.name).symlink_to(entry)
    return target


def add_view(venv: Path, view: Path) -> None:
    (site,) = venv.glob("lib/python*/site-packages")
    (site / "_dependencies.pth").write_text(f"{view}\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def snapshot(tree: Path) -> set[tuple[str, int]]:
    return {(str(p), p.stat().st_mtime_ns) for p in tree.rglob("*") if not p.is_symlink()}


@pytest.fixture(scope="module")
def image() -> Iterator[tuple[Paths, Stage]]:
    """Run the build stage's steps; yield the host paths and the runtime stage."""
    stages = parse(DOCKERFILE.read_text())
    build, final = stages[0], stages[-1]
    assert build.name == "build" and len(stages) == 2
    # A tree UID 10001 can traverse (mkdtemp is 0700) but not write.
    root = Path(tempfile.mkdtemp(prefix="authbridge-image-"))
    root.chmod(0o755)
    paths = Paths(
        root,
        {
            "/src": "src",
            "/wheels": "wheels",
            "/opt/authbridge": "opt/authbridge",
            "/data": "data",
            "/tmp": "tmp",
            "/run/secrets/authbridge": "run/secrets/authbridge",
            "/etc/authbridge": "etc/authbridge",
        },
    )
    view = dependency_view(root / "view")
    build_venv = root / "build-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", build_venv], check=True)
    add_view(build_venv, view)
    env = {
        "PATH": f"{build_venv / 'bin'}:{os.environ['PATH']}",
        "HOME": str(root / "home"),
        "PIP_NO_INDEX": "1",  # offline: a step needing the network fails here
        "PIP_CONFIG_FILE": os.devnull,
    }
    workdir = Path("/")
    try:
        for keyword, arg in build.instructions:
            if keyword == "ENV":
                env.update(env_pairs(arg))
            elif keyword == "WORKDIR":
                workdir = paths.host(arg)
                workdir.mkdir(parents=True, exist_ok=True)
            elif keyword == "COPY":
                *sources, dest = shlex.split(arg)
                target = workdir / dest if not dest.startswith("/") else paths.host(dest)
                for source in sources:
                    origin = ROOT / source
                    if origin.is_dir():
                        shutil.copytree(
                            origin,
                            target if dest.endswith("/") is False else target / source,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
                            dirs_exist_ok=True,
                        )
                    else:
                        target.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(origin, target / origin.name)
            elif keyword == "RUN":
                command = paths.rewrite(arg)
                done = subprocess.run(
                    ["/bin/sh", "-c", command],
                    cwd=workdir,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert done.returncode == 0, f"RUN {arg}\n{done.stdout}\n{done.stderr}"
                venv = paths.host("/opt/authbridge")
                if (venv / "pyvenv.cfg").exists() and not list(
                    venv.glob("lib/*/site-packages/_dependencies.pth")
                ):
                    add_view(venv, view)
        for directory in ("/data", "/tmp", "/run/secrets/authbridge", "/etc/authbridge"):
            paths.host(directory).mkdir(parents=True, exist_ok=True)
        paths.host("/tmp").chmod(0o1777)
        if SWITCH_USER:
            os.chown(paths.host("/data"), UID, UID)  # the image's `chown 10001:10001 /data`
        yield paths, final
    finally:
        shutil.rmtree(root, ignore_errors=True)


def runtime_env(paths: Paths, final: Stage, extra: dict[str, str]) -> dict[str, str]:
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8"}
    for arg in final.all("ENV"):
        for name, value in env_pairs(arg).items():
            value = value.replace("$PATH", env["PATH"])
            env[name] = paths.rewrite(value)
    return env | extra


def others_can_read(path: Path) -> bool:
    """UID 10001 can reach `path`: every directory above it searchable by others."""
    path = path.resolve()
    return all(p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents])


# As the image's USER when root can switch to it and that user can read the dependencies
# (a checkout under a private home directory cannot be): then nothing but /data and /tmp
# is writable to the commands, as in the container.
SWITCH_USER = os.geteuid() == 0 and others_can_read(Path(sysconfig.get_paths()["purelib"]))


def as_image_user(command: list[str], **kwargs: object) -> subprocess.Popen[str]:
    """Start `command` as the image's USER (10001) when this test can switch to it."""
    if SWITCH_USER:
        command = ["setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups", *command]
    return subprocess.Popen(command, text=True, **kwargs)  # type: ignore[call-overload]


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    process = as_image_user(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)
    out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def test_the_image_declares_a_non_root_read_only_service() -> None:
    stages = parse(DOCKERFILE.read_text())
    final = stages[-1]
    assert final.all("USER") == ["10001:10001"]  # numeric: runAsNonRoot can verify it
    assert json.loads(final.all("ENTRYPOINT")[0]) == ["authbridge"]
    assert json.loads(final.all("CMD")[0]) == ["serve", "--host", "0.0.0.0"]
    assert final.all("WORKDIR") == ["/data"] and "/data" in final.all("VOLUME")[0]
    labels = " ".join(final.all("LABEL"))
    for key in ("title", "description", "version", "revision", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels
    (healthcheck,) = final.all("HEALTHCHECK")
    assert "CMD" in healthcheck and '"python"' in healthcheck and "/healthz" in healthcheck
    assert not [a for a in final.all("RUN") if "pip install" in a]  # nothing built at runtime
    # The build context is the repository root: everything ignored but what the image needs.
    rules = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert rules[0] == "*" and {"!pyproject.toml", "!README.md", "!src/"} <= set(rules)


def test_the_build_steps_install_a_working_cli_that_runs_read_only(
    image: tuple[Paths, Stage],
) -> None:
    paths, final = image
    venv = paths.host("/opt/authbridge")
    (wheel,) = paths.host("/wheels").glob("authbridge-*.whl")
    assert wheel.name.startswith("authbridge-0.1.0-py3-none-any")
    assert not (venv / "bin" / "pip").exists()  # the image carries no installer
    config = paths.host("/etc/authbridge") / "authbridge.yaml"
    config.write_text(SAMPLE_CONFIG)
    port = free_port()
    env = runtime_env(paths, final, {"SERVER__PORT": str(port)})
    workdir = paths.host(final.all("WORKDIR")[-1])
    before = snapshot(paths.root / "opt")

    where = run(
        [str(venv / "bin" / "python"), "-c", "import authbridge; print(authbridge.__file__)"],
        env=env,
        cwd=workdir,
    )
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip().startswith(str(venv)), "the wheel's package runs, not the source"

    helped = run(["authbridge", "--help"], env=env, cwd=workdir)
    assert helped.returncode == 0, helped.stderr
    assert "serve" in helped.stdout and "config" in helped.stdout

    checked = run(["authbridge", "config", "check", "--config", str(config)], env=env, cwd=workdir)
    assert checked.returncode == 0, checked.stderr
    assert "Configuration is valid." in checked.stderr and "0oa1okta" in checked.stdout

    migrated = run(["authbridge", "db", "upgrade"], env=env, cwd=workdir)
    assert migrated.returncode == 0, migrated.stderr
    assert (workdir / "authbridge.db").is_file()  # the relative default lands in /data

    entrypoint = json.loads(final.all("ENTRYPOINT")[0]) + json.loads(final.all("CMD")[0])
    entrypoint[entrypoint.index("--host") + 1] = "127.0.0.1"  # loopback only, in a test
    server = as_image_user(
        [*entrypoint, "--config", str(config)],
        env=env,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        healthcheck = json.loads(final.all("HEALTHCHECK")[0].split("CMD", 1)[1])
        deadline = time.monotonic() + 40
        healthy = None
        while time.monotonic() < deadline and server.poll() is None:
            healthy = run(healthcheck, env=env, cwd=workdir)
            if healthy.returncode == 0:
                break
            time.sleep(0.5)
        assert server.poll() is None, server.communicate(timeout=5)[0]
        assert healthy is not None and healthy.returncode == 0, healthy.stderr[-500:]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.communicate()
    # Nothing was written beside the code (no __pycache__, no state): read-only would do.
    assert snapshot(paths.root / "opt") == before
    if SWITCH_USER:
        # And the commands above really ran where they could not have written there.
        probe = run(["python", "-c", f"open({str(venv / 'probe')!r}, 'w')"], env=env, cwd=workdir)
        assert probe.returncode != 0 and "PermissionError" in probe.stderr
