"""The provider tests' app, clients and signed-in browser, for the events they emit."""

from tests.provider.conftest import app_factory, browser, op  # noqa: F401
