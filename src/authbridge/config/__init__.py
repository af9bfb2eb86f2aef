"""Settings: the model, and loading from file, environment and secret files."""

from authbridge.config.errors import ConfigError, ConfigIssue
from authbridge.config.loader import load_settings, masked
from authbridge.config.model import OidcProviderSettings, Settings

__all__ = [
    "ConfigError",
    "ConfigIssue",
    "OidcProviderSettings",
    "Settings",
    "load_settings",
    "masked",
]
