"""Settings: the model, and loading from file, environment and secret files."""

from authbridge.config.errors import ConfigError, ConfigIssue
from authbridge.config.loader import Report, load_settings, load_with_report, masked
from authbridge.config.model import OidcProviderSettings, Settings

__all__ = [
    "ConfigError",
    "ConfigIssue",
    "OidcProviderSettings",
    "Report",
    "Settings",
    "load_settings",
    "load_with_report",
    "masked",
]
