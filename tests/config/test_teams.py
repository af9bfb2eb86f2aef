"""`teams.<name>` (membership sources of a shared team) and `scim.<source>.authoritative`:
what the file says, and errors that name the path and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from authbridge.config import ConfigError, load_settings


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "authbridge.yaml"
    path.write_text(text)
    return load_settings(path, {})


def test_shared_team_and_authoritative_source(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        "teams:\n  Engineering:\n    sources: [scim:okta, idp:okta]\n    managedBy: idp:okta\n"
        "scim:\n  microsoft:\n    authoritative: true\n    connectorId: corp-entra\n",
    )
    team = settings.teams["Engineering"]  # type: ignore[attr-defined]
    assert team.sources == ["scim:okta", "idp:okta"] and team.owner == "idp:okta"
    assert settings.scim.microsoft.authoritative is True  # type: ignore[attr-defined]
    assert settings.scim.okta.authoritative is False  # type: ignore[attr-defined]


def test_the_first_source_owns_the_team_unless_told(tmp_path: Path) -> None:
    settings = _load(tmp_path, "teams:\n  Data:\n    sources: [local, idp:okta]\n")
    assert settings.teams["Data"].owner == "local"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "teams:\n  Eng:\n    source: [local]\n",
            "teams.Eng.source: unknown key; did you mean teams.Eng.sources?",
        ),
        (
            "teams:\n  Eng:\n    sources: [scim:oktaa]\n",
            "teams.Eng.sources: 'scim:oktaa': SCIM sources are scim:okta, scim:microsoft",
        ),
        (
            "teams:\n  Eng:\n    sources: [okta]\n",
            "teams.Eng.sources: 'okta' is not a source; write scim:<source>, "
            "idp:<connector> or local",
        ),
        (
            "teams:\n  Eng:\n    sources: [scim:okta, scim:microsoft]\n",
            "teams.Eng.sources: at most one scim:<source> per team",
        ),
        (
            "teams:\n  Eng:\n    sources: [local]\n    managedBy: idp:okta\n",
            "teams.Eng: managedBy 'idp:okta' must be one of sources ['local']",
        ),
        (
            "scim:\n  okta:\n    authoritive: true\n",
            "scim.okta.authoritive: unknown key; did you mean scim.okta.authoritative?",
        ),
    ],
)
def test_errors_name_the_path(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    assert expected in [str(issue) for issue in caught.value.issues], caught.value.issues
