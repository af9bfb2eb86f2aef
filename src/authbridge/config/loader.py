"""Builds the effective settings from a file, the environment and mounted secret files.

Precedence, lowest first: defaults, the YAML/JSON file, files in the secrets directory
(`AUTHBRIDGE_SECRETS_DIR`, one file per variable name, as Kubernetes mounts a Secret),
environment variables, and `<NAME>_FILE` variables that point at a file holding the value.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from authbridge.config import openmetadata, pachyderm
from authbridge.config.errors import ConfigError, ConfigIssue
from authbridge.config.houston import from_values
from authbridge.config.model import Settings
from authbridge.config.roles import role_issues
from authbridge.config.schema import (
    Node,
    aliases,
    child,
    closest,
    env_segment,
    node_for,
    normalize,
)

__all__ = ["ENV_SECTIONS", "Report", "load_settings", "load_with_report", "masked", "read_file"]

# Every top-level section of the model can be set as SECTION__KEY...: no list to keep in step.
ENV_SECTIONS = {normalize(alias) for alias in aliases(Settings)}
DEFAULT_SECRETS_DIR = "/run/secrets/authbridge"
MASK = "********"
URL_PASSWORD = "url-password"


def _camel(segment: str) -> str:
    head, *rest = segment.lower().split("_")
    return head + "".join(part.capitalize() for part in rest)


def read_file(path: Path) -> dict[str, Any]:
    """Parse a YAML or JSON config file.

    Foreign shapes (Astronomer's `astronomer.houston`) are translated by `load_settings`.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigIssue("(file)", f"cannot read {path}: {exc.strerror}")]) from None
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(
            [ConfigIssue("(file)", f"{path} is not valid YAML/JSON{where}")]
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue("(file)", f"{path} must hold a mapping of sections")])
    return data


@dataclass
class Report:
    """What `config check` tells beyond the settings: foreign keys and what they became."""

    translated: list[str] = field(default_factory=list)
    not_read: list[str] = field(default_factory=list)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _foreign(
    raw: dict[str, Any], environ: Mapping[str, str], issues: list[ConfigIssue], report: Report
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Split a values file into authbridge's own sections and the foreign shapes it reads.

    Returns the settings tree in canonical keys, the variables the file sets
    (`astronomer.houston.env` and `.secret`) and the entry each variable came from.
    """
    translated: dict[str, Any] = {}
    variables: dict[str, str] = {}
    origins: dict[str, str] = {}
    own: dict[str, Any] = {}
    for key, value in raw.items():
        key = str(key)
        if key == "astronomer":
            houston = from_values(value, environ, _secrets_dir(environ))
            issues.extend(houston.issues)
            report.not_read.extend(houston.not_read)
            prefix = "astronomer.houston.config"
            config = _sections(houston.config, prefix, issues, report)
            report.translated.extend(f"{prefix}.{name} -> {name}" for name in config)
            translated = _deep_merge(translated, config)
            variables.update(houston.variables)
            origins.update(houston.origins)
        elif key == "openmetadata":
            om = openmetadata.from_values(value, _secrets_dir(environ))
            issues.extend(om.issues)
            report.not_read.extend(om.not_read)
            report.translated.extend(om.translated)
            translated = _deep_merge(translated, _sections(om.config, "", issues, report))
        else:
            own[key] = value
    # The file's own sections win over what a foreign block says about the same key.
    native = _sections(own, "", issues, report)
    return _deep_merge(translated, native), variables, origins


def _sections(
    block: dict[str, Any], prefix: str, issues: list[ConfigIssue], report: Report
) -> dict[str, Any]:
    """The settings sections of `block`, canonical; issues name keys under `prefix`.

    A top-level key that is not a section is another chart's (`global:`) or another
    component's (Houston's `deployments:`) block: not read, not an error, unless it is a
    near miss of a section name, which stays an unknown-key error with its suggestion.
    """
    root = node_for(Settings)
    known: dict[str, Any] = {}
    for key, value in block.items():
        if child(root, str(key)) is not None or closest(root, str(key)) is not None:
            known[str(key)] = value
        else:
            report.not_read.append(f"{prefix}.{key}" if prefix else str(key))
    result: dict[str, Any] = _canonicalize(known, root, prefix, issues)
    return result


def _secrets_dir(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("AUTHBRIDGE_SECRETS_DIR", DEFAULT_SECRETS_DIR))


def _canonicalize(raw: Any, node: Node, path: str, issues: list[ConfigIssue]) -> Any:
    """Rename keys to their canonical spelling and report unknown ones with a suggestion."""
    if not isinstance(raw, dict) or node.kind not in ("model", "model_map", "value_map"):
        return raw
    out: dict[str, Any] = {}
    for key, value in raw.items():
        key = str(key)
        found = child(node, key)
        where = f"{path}.{key}" if path else key
        if found is None:
            hint = closest(node, key)
            suggestion = f"{path}.{hint}" if path and hint else hint
            issues.append(ConfigIssue(where, "unknown key", suggestion))
            continue
        canonical, sub = found
        if value is None and sub.kind != "scalar":
            # YAML's empty block (`authUrlParams:` with nothing under it) is null: Helm
            # values mean "not set", so every mapping, list or section takes its default.
            continue
        out[canonical] = _canonicalize(
            value, sub, f"{path}.{canonical}" if path else canonical, issues
        )
    return out


def _set_path(data: dict[str, Any], var: str, value: str, issues: list[ConfigIssue]) -> None:
    segments = var.split("__")
    node = node_for(Settings)
    target = data
    path: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        existing = next((k for k in target if normalize(k) == normalize(segment)), None)
        found = child(node, existing or segment)
        if found is None:
            hint = closest(node, segment)
            env_hint = None
            if hint:
                env_hint = "__".join([*segments[:index], env_segment(hint)])
            issues.append(
                ConfigIssue(
                    ".".join([*path, segment.lower()]),
                    f"unknown key (from ${var})",
                    ".".join([*path, hint]) + (f" (${env_hint})" if env_hint else "")
                    if hint
                    else None,
                )
            )
            return
        key, node = found
        if existing is None and key == segment:
            # A free name (a provider, an authUrlParams entry): provider names read like
            # file keys, OAuth parameter names stay snake_case as the IdPs spell them.
            key = segment.lower() if node.kind == "scalar" else _camel(segment)
        path.append(key)
        if last:
            target[key] = _env_value(value, node)
            return
        nxt = target.get(key)
        if not isinstance(nxt, dict):
            nxt = {}
            target[key] = nxt
        target = nxt


def _env_value(value: str, node: Node) -> Any:
    """Turn an environment string into the shape the key takes (lists as JSON or commas)."""
    if node.kind == "list":
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                return json.loads(stripped)
            except json.JSONDecodeError:
                pass
        return [item.strip() for item in stripped.split(",") if item.strip()]
    if node.kind in ("value_map", "model", "model_map"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _environment_overrides(environ: Mapping[str, str], issues: list[ConfigIssue]) -> dict[str, str]:
    """Collect `SECTION__KEY...` variables from the secrets dir, the env, and `_FILE` pointers."""
    found: dict[str, str] = {}
    secrets_dir = _secrets_dir(environ)
    if secrets_dir.is_dir():
        for entry in sorted(secrets_dir.iterdir()):
            if entry.is_file() and "__" in entry.name:
                found[entry.name.upper()] = entry.read_text(encoding="utf-8").strip()
    for name, value in environ.items():
        if "__" in name and normalize(name.split("__", 1)[0]) in ENV_SECTIONS:
            found[name.upper()] = value
    for name in [n for n in found if n.endswith("_FILE")]:
        pointer = found.pop(name)
        target = name.removesuffix("_FILE")
        try:
            found[target] = Path(pointer).read_text(encoding="utf-8").strip()
        except OSError as exc:
            issues.append(ConfigIssue(f"${name}", f"cannot read {pointer}: {exc.strerror}"))
    return found


def _validation_issues(exc: ValidationError) -> list[ConfigIssue]:
    issues = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"] if part != "providers"]
        message = error["msg"]
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        given = error.get("input")
        if (
            isinstance(given, (str, int, float, bool))
            and error["type"] != "missing"
            and not _is_secret(loc)
        ):
            message += f" (got {given!r})"  # a secret (a URL with a password) never echoed
        issues.append(ConfigIssue(".".join(loc), message))
    return issues


def _is_secret(path: list[str]) -> bool:
    node: Node | None = node_for(Settings)
    for key in path:
        found = child(node, key) if node is not None else None
        if found is None:
            return False
        node = found[1]
        if node.secret:
            return True
    return False


def load_settings(
    config_file: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Load and validate the effective settings, or raise ConfigError naming every problem."""
    return load_with_report(config_file, environ)[0]


def load_with_report(
    config_file: Path | None = None, environ: Mapping[str, str] | None = None
) -> tuple[Settings, Report]:
    """`load_settings`, plus what each foreign block became and what was not read."""
    environ = os.environ if environ is None else environ
    if config_file is None and environ.get("AUTHBRIDGE_CONFIG"):
        config_file = Path(environ["AUTHBRIDGE_CONFIG"])
    issues: list[ConfigIssue] = []
    report = Report()
    raw = read_file(config_file) if config_file is not None else {}
    raw = pachyderm.translate(raw, environ, DEFAULT_SECRETS_DIR, issues)
    data, variables, origins = _foreign(raw, environ, issues, report)
    # The file's variables apply as the process's own would; a real variable wins.
    effective = {**variables, **environ}
    overrides = _environment_overrides(effective, issues)
    for var, value in sorted(overrides.items()):
        _set_path(data, var, value, issues)
    outside: dict[str, str] = {}
    for name, where in origins.items():
        upper = name.upper()
        if upper in overrides:
            scratch: dict[str, Any] = {}
            _set_path(scratch, upper, "", [])
            target = _dotted(scratch)
            report.translated.append(f"{where} -> {target}" if target else f"{where} -> ${name}")
        else:
            report.translated.append(f"{where} -> environment ${name}")
        if name in environ:
            report.translated[-1] += " (overridden by the process environment)"
        elif name in variables and upper not in overrides:
            outside[name] = variables[name]
    if outside:
        data["environment"] = outside
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        issues.extend(_validation_issues(exc))
    else:
        issues.extend(role_issues(settings))
    if issues:
        raise ConfigError(issues)
    return settings, report


def _dotted(tree: dict[str, Any]) -> str:
    path = []
    while isinstance(tree, dict) and len(tree) == 1:
        key, tree = next(iter(tree.items()))
        path.append(key)
    return ".".join(path)


def masked(settings: Settings) -> dict[str, Any]:
    """The effective settings as a dict with every secret value replaced by a mask."""
    dumped = settings.model_dump(by_alias=True, mode="json")
    result: dict[str, Any] = _mask(dumped, node_for(Settings))
    return result


def _mask(value: Any, node: Node) -> Any:
    if node.secret and isinstance(value, dict):
        # A map of secrets (`environment`): the names are not secret, the values are.
        return {key: MASK for key in value}
    if node.secret and value:
        if node.secret == URL_PASSWORD and isinstance(value, str):
            return _mask_url_password(value)
        return MASK
    if isinstance(value, dict):
        if node.kind == "model" and node.model is not None and "providers" in value:
            providers = value.pop("providers")
            value.update(providers)
        out = {}
        for key, item in value.items():
            found = child(node, key)
            out[key] = _mask(item, found[1]) if found else item
        return out
    return value


def _mask_url_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _at, host = rest.rpartition("@")
    user, colon, _password = creds.partition(":")
    return f"{scheme}://{user}{':' + MASK if colon else ''}@{host}"
