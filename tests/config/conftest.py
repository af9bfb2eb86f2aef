from tests.web.conftest import app_factory  # noqa: F401 (the app on a test client)
