"""Flask service (the shape of Airflow's webserver) behind the WSGI middleware.

    python examples/flask_wsgi_app.py   (configure with AUTHBRIDGE_* env vars)

The middleware sets ``REMOTE_USER``, which Flask-AppBuilder's ``AUTH_REMOTE_USER`` mode (as in
Airflow's ``webserver_config.py``) takes as the logged-in user.
"""

from __future__ import annotations

from flask import Flask, jsonify, request

from authbridge.middleware import TokenVerifier, VerifiedToken
from authbridge.middleware.wsgi import ENVIRON_KEY, JwtWsgiMiddleware


def create_app(verifier: TokenVerifier) -> Flask:
    app = Flask(__name__)
    app.wsgi_app = JwtWsgiMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, verifier, exempt_paths=["/health"]
    )

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.get("/api/v1/dags")
    def dags():
        token: VerifiedToken = request.environ[ENVIRON_KEY]
        return jsonify(
            remote_user=request.environ.get("REMOTE_USER"),
            sub=token.subject,
            roles=sorted(token.roles),
        )

    return app


if __name__ == "__main__":
    from _config import verifier_from_env

    create_app(verifier_from_env()).run(host="127.0.0.1", port=8002)
