"""Where `authbridge login` keeps tokens: one JSON file per user, readable by them alone."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["config_dir", "load_tokens", "save_tokens"]


def config_dir() -> Path:
    """$AUTHBRIDGE_CONFIG_DIR, else $XDG_CONFIG_HOME/authbridge, else ~/.config/authbridge."""
    explicit = os.environ.get("AUTHBRIDGE_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "authbridge"


def _path() -> Path:
    return config_dir() / "tokens.json"


def load_tokens() -> dict[str, dict[str, Any]]:
    """Tokens by issuer; an unreadable or foreign-writable file counts as none."""
    path = _path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def save_tokens(tokens: dict[str, dict[str, Any]]) -> Path:
    """Write atomically with mode 0600 in a 0700 directory: the file holds credentials."""
    directory = config_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".tokens.", suffix=".json")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(tokens, handle, indent=2)
        os.replace(temp, _path())
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return _path()
