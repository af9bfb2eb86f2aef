"""`branding:` keys: colours are hex and readable (WCAG AA 4.5:1, refused below), the
template directory and logo exist; `config check` reports each by its key."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from authbridge.cli.main import app
from authbridge.config.branding import contrast
from tests.conftest import make_settings

runner = CliRunner()


def _check(tmp_path: Path, branding: str) -> tuple[int, str]:
    config = tmp_path / "authbridge.yaml"
    config.write_text(f"database:\n  url: sqlite:///{tmp_path}/x.db\nbranding:\n{branding}")
    result = runner.invoke(app, ["config", "check", "--config", str(config)])
    return result.exit_code, result.output


def test_contrast_matches_wcag_reference_values() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#fff", "#fff") == pytest.approx(1.0)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # the AA grey
    assert contrast("#b3261e", "#121212") == pytest.approx(2.87, abs=0.02)  # the old error


def test_a_readable_branding_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    code, output = _check(
        tmp_path,
        f"  productName: Acme\n  primaryColor: '#0b5394'\n  accentColor: '#9fc5e8'\n"
        f"  templatesDir: {tmp_path / 'templates'}\n",
    )
    assert code == 0, output
    assert "productName: Acme" in output


@pytest.mark.parametrize(
    ("branding", "says"),
    [
        ("  primaryColor: blue\n", "branding.primaryColor: must be a hex colour"),
        ("  primaryColor: '#8ab4ff'\n", "contrast of 2.09:1 against #ffffff"),
        ("  accentColor: '#2557d6'\n", "accentColor #2557d6 has a contrast of"),
        ("  templatesDir: /nonexistent/templates\n", "is not a directory"),
        ("  logoPath: /nonexistent/logo.png\n", "is not a file"),
        ("  logoPath: /etc/passwd\n", "must be a .png, .svg, .jpg or .webp file"),
        ("  theme: dark\n", "branding.theme: unknown key"),
    ],
)
def test_config_check_refuses(tmp_path: Path, branding: str, says: str) -> None:
    code, output = _check(tmp_path, branding)
    assert code == 2, output
    assert says in " ".join(output.split()), output


def test_environment_names(sqlite_url: str, tmp_path: Path) -> None:
    settings = make_settings(
        sqlite_url, BRANDING__PRODUCT_NAME="Acme", BRANDING__TEMPLATES_DIR=str(tmp_path)
    )
    assert settings.branding.product_name == "Acme"
    assert settings.branding.templates_dir == tmp_path
