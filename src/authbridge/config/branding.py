"""`branding:` — product name, logo, colours and a template override directory.

Names follow Dex's `frontend` block (`issuer` → `productName`, `logoURL`, `theme`) and
Keycloak themes (a directory of templates overriding the built-in ones by name). Colours
are checked here, at load time, against the text drawn on them: WCAG 2.2 SC 1.4.3 asks
4.5:1 for normal text, and a colour that fails it is refused rather than warned about,
because it would fail every sign-in button of every user until someone noticed.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from authbridge.config.section import Section

__all__ = [
    "DARK_BACKGROUND",
    "LIGHT_BACKGROUND",
    "MIN_CONTRAST",
    "BrandingSettings",
    "contrast",
]

MIN_CONTRAST = 4.5
# What the colours are drawn against: white button text and the light page (primary),
# Chromium's dark canvas (accent, the links of the dark scheme).
LIGHT_BACKGROUND = "#ffffff"
DARK_BACKGROUND = "#121212"
_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
LOGO_TYPES = {
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}


def _rgb(colour: str) -> tuple[int, int, int]:
    digits = colour[1:]
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def _luminance(colour: str) -> float:
    """WCAG 2.2 relative luminance (sRGB, the definition under SC 1.4.3)."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in _rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: str, second: str) -> float:
    """WCAG 2.2 contrast ratio of two `#rgb`/`#rrggbb` colours, 1 to 21."""
    a, b = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def _colour(value: str | None) -> str | None:
    if value is not None and not _HEX.match(value):
        raise ValueError("must be a hex colour such as #2557d6")
    return value.lower() if value else None


class BrandingSettings(Section):
    """How the sign-in pages look: name, logo, colours, and templates of your own."""

    product_name: str = Field(
        default="authbridge",
        min_length=1,
        max_length=64,
        description="The name in page titles and the header (Dex: frontend.issuer).",
    )
    logo_path: Path | None = Field(
        default=None,
        description="A PNG, SVG, JPEG or WebP file shown in the header, served by authbridge "
        "at /branding/logo (the pages load nothing from other origins; Dex: logoURL). Not "
        "`logoFile`: a `_FILE` environment name means a secret read from a file.",
    )
    primary_color: str | None = Field(
        default=None,
        description="Buttons, links and focus rings, e.g. #2557d6; needs 4.5:1 against "
        "white (the button text and the light page).",
    )
    accent_color: str | None = Field(
        default=None,
        description="Links and focus rings on the dark scheme; needs 4.5:1 against "
        f"{DARK_BACKGROUND}.",
    )
    templates_dir: Path | None = Field(
        default=None,
        description="A directory whose templates replace the built-in ones of the same name "
        "(login.html, base.html, ...), as a Keycloak theme does.",
    )

    _primary = field_validator("primary_color")(_colour)
    _accent = field_validator("accent_color")(_colour)

    @field_validator("templates_dir")
    @classmethod
    def _is_directory(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a directory")
        return value

    @field_validator("logo_path")
    @classmethod
    def _is_image(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        if value.suffix.lower() not in LOGO_TYPES:
            raise ValueError("must be a .png, .svg, .jpg or .webp file")
        if not value.is_file():
            raise ValueError(f"{value} is not a file")
        return value

    @model_validator(mode="after")
    def _readable(self) -> BrandingSettings:
        checks = (
            ("primaryColor", self.primary_color, LIGHT_BACKGROUND),
            ("accentColor", self.accent_color, DARK_BACKGROUND),
        )
        for key, colour, against in checks:
            if colour is not None and (ratio := contrast(colour, against)) < MIN_CONTRAST:
                raise ValueError(
                    f"{key} {colour} has a contrast of {ratio:.2f}:1 against {against}; "
                    f"WCAG AA needs {MIN_CONTRAST}:1 (choose a "
                    f"{'darker' if against == LIGHT_BACKGROUND else 'lighter'} colour)"
                )
        return self

    @property
    def logo_type(self) -> str | None:
        return LOGO_TYPES.get(self.logo_path.suffix.lower()) if self.logo_path else None
