"""Astronomer's Houston values, `astronomer.houston.{config,env,secret}`, read as written.

A platform's values file puts Houston's settings under `astronomer.houston.config` (the
`auth:` keys authbridge reads natively), environment variables under
`astronomer.houston.env` (`{name, value}`) and variables fed from Kubernetes Secrets under
`astronomer.houston.secret` (`{envName, secretName, secretKey}`). A Secret mounted as a
volume is a directory with one file per key, so the value of a `secret` entry is the file
`$AUTHBRIDGE_SECRETS_DIR/<secretName>/<secretKey>`.

The variables of both lists apply as the same variables of the process environment would
(`AUTH__OPENID_CONNECT__OKTA__CLIENT_SECRET`, `SCIM_AUTH_CODE_OKTA`,
`GLOBAL_AGENT_HTTPS_PROXY`), with one rule of precedence: a variable really set in the
process environment wins over the file's list, as a pod's own `env:` would override a
chart's default. Variables that are not settings keys are kept in `Settings.environment`
for the code that reads the environment (the outbound proxy, SCIM credentials).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from authbridge.config.errors import ConfigIssue

__all__ = ["HoustonValues", "from_values", "read_secret"]


@dataclass
class HoustonValues:
    """What `astronomer.houston` held: native config, variables, and where each came from."""

    config: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)  # variable name -> entry path
    not_read: list[str] = field(default_factory=list)
    issues: list[ConfigIssue] = field(default_factory=list)


def from_values(astronomer: Any, environ: Mapping[str, str], secrets_dir: Path) -> HoustonValues:
    """Read the `astronomer:` block of a values file (other charts' blocks are not read)."""
    out = HoustonValues()
    if not isinstance(astronomer, dict):
        if astronomer is not None:
            out.issues.append(ConfigIssue("astronomer", "must be a mapping"))
        return out
    for key in astronomer:
        if key != "houston":
            out.not_read.append(f"astronomer.{key}")
    houston = astronomer.get("houston")
    if houston is None:
        return out
    if not isinstance(houston, dict):
        out.issues.append(ConfigIssue("astronomer.houston", "must be a mapping"))
        return out
    for key in houston:
        if key not in ("config", "env", "secret"):
            out.not_read.append(f"astronomer.houston.{key}")
    config = houston.get("config")
    if isinstance(config, dict):
        out.config = config
    elif config is not None:
        out.issues.append(ConfigIssue("astronomer.houston.config", "must be a mapping"))
    _env_list(houston.get("env"), out)
    _secret_list(houston.get("secret"), environ, secrets_dir, out)
    return out


def _entries(value: Any, where: str, out: HoustonValues) -> list[tuple[str, dict[str, Any]]]:
    if value is None:
        return []
    if not isinstance(value, list):
        out.issues.append(ConfigIssue(where, "must be a list of entries"))
        return []
    entries = []
    for index, entry in enumerate(value):
        path = f"{where}[{index}]"
        if isinstance(entry, dict):
            entries.append((path, entry))
        else:
            out.issues.append(ConfigIssue(path, "must be a mapping"))
    return entries


def _env_list(value: Any, out: HoustonValues) -> None:
    for path, entry in _entries(value, "astronomer.houston.env", out):
        unknown = sorted(set(entry) - {"name", "value", "valueFrom"})
        for key in unknown:
            out.issues.append(ConfigIssue(f"{path}.{key}", "unknown key", f"{path}.value"))
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            out.issues.append(ConfigIssue(f"{path}.name", "a variable name is required"))
            continue
        if "valueFrom" in entry:
            out.issues.append(
                ConfigIssue(
                    f"{path}.valueFrom",
                    "not supported; list the variable under astronomer.houston.secret",
                )
            )
            continue
        given = entry.get("value")
        out.variables[name] = "" if given is None else str(given)
        out.origins[name] = path


def _secret_list(value: Any, environ: Mapping[str, str], base: Path, out: HoustonValues) -> None:
    for path, entry in _entries(value, "astronomer.houston.secret", out):
        fields = {}
        for key in ("envName", "secretName", "secretKey"):
            given = entry.get(key)
            if not isinstance(given, str) or not given:
                out.issues.append(ConfigIssue(f"{path}.{key}", "is required"))
            fields[key] = given if isinstance(given, str) else ""
        for key in sorted(set(entry) - {"envName", "secretName", "secretKey"}):
            out.issues.append(ConfigIssue(f"{path}.{key}", "unknown key"))
        if not all(fields.values()):
            continue
        if fields["envName"] in environ:
            # The process's own variable wins; the mounted file is not needed.
            out.origins[fields["envName"]] = path
            continue
        value = read_secret(base, fields["secretName"], fields["secretKey"], path, out.issues)
        if value is not None:
            out.variables[fields["envName"]] = value
            out.origins[fields["envName"]] = path


def read_secret(
    base: Path, name: str, key: str, where: str, issues: list[ConfigIssue]
) -> str | None:
    """The key `key` of the Kubernetes Secret `name` as a volume mounts it under `base`:
    the file `<base>/<name>/<key>`, trailing newline stripped. A problem is added to
    `issues`, naming the entry at `where`."""
    if "/" in name + key or ".." in (name, key):
        issues.append(ConfigIssue(where, "the Secret's name and key must be plain names"))
        return None
    file = base / name / key
    try:
        return file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        issues.append(
            ConfigIssue(
                where,
                f"cannot read {file} ({exc.strerror}): mount the Secret {name!r} at "
                f"{base / name} (AUTHBRIDGE_SECRETS_DIR)",
            )
        )
        return None
