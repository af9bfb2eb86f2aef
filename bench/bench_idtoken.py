"""ID token validation cost: authbridge's full OIDC Core §3.1.3.7 checks (the middleware's
verifier, then the connector's nonce/at_hash checks) against a bare joserfc signature check
(the baseline), same token, same key, same run.

    python bench/bench_idtoken.py
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jws
from joserfc.jwk import RSAKey

from authbridge.connectors.http import OutboundHttp
from authbridge.connectors.idtoken import IdTokenChecks, validate_id_token
from authbridge.connectors.jwks import IdpKeys

N = 3000


def main() -> None:
    key = RSAKey.generate_key(2048)
    jwk: dict[str, Any] = {**key.as_dict(private=False), "kid": "k1", "use": "sig", "alg": "RS256"}
    body = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    issuer = f"http://127.0.0.1:{server.server_address[1]}"
    now = int(time.time())
    claims = {"iss": issuer, "aud": "c", "sub": "u", "exp": now + 600, "iat": now, "nonce": "n"}
    token = jws.serialize_compact({"alg": "RS256", "kid": "k1"}, json.dumps(claims).encode(), key)
    cache = IdpKeys(OutboundHttp({}), lambda: issuer + "/jwks", name="bench")
    checks = IdTokenChecks(issuer=issuer, client_id="c", nonce="n", allowed_algs={"RS256"})
    validate_id_token(token, cache, checks)  # warm the JWKS cache

    public = RSAKey.import_key(jwk)
    start = time.perf_counter()
    for _ in range(N):
        jws.deserialize_compact(token, public, algorithms=["RS256"])
    baseline = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(N):
        validate_id_token(token, cache, checks)
    ours = time.perf_counter() - start
    server.shutdown()
    print(f"joserfc verify only : {N / baseline:8.0f}/s")
    print(f"validate_id_token   : {N / ours:8.0f}/s  ({ours / baseline:.2f}x the baseline's time)")
    print(f"JWKS fetches        : {cache.fetches}")


if __name__ == "__main__":
    main()
