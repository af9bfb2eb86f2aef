"""``at_hash`` and ``c_hash``: OpenID Connect Core 1.0 §3.1.3.6 and §3.3.2.11.

§3.1.3.6: "Its value is the base64url encoding of the left-most half of the hash of the
octets of the ASCII representation of the access_token value, where the hash algorithm used
is the hash algorithm used in the alg Header Parameter of the ID Token's JOSE Header."
``c_hash`` (§3.3.2.11) is the same over the authorization code.

One implementation for both sides: the provider putting the claims in the ID tokens it
issues (``authbridge.tokens.issuer``) and the connectors checking an upstream IdP's
(``authbridge.connectors.idtoken``). Hand-written rather than Authlib's ``create_half_hash``
because that one knows no EdDSA and returns bytes; a test holds the two equal for every
SHA-2 algorithm, and the OIDC Core examples are replayed from ``tests/data``.
"""

from __future__ import annotations

import base64
import hashlib

__all__ = ["half_hash"]

_HASHES = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


def half_hash(value: str, alg: str = "RS256") -> str:
    """The left half of the hash of ASCII ``value`` named by JWS ``alg``, base64url.

    RS/PS/ES algorithms hash with their SHA-2 width; EdDSA with SHA-512 (Ed25519's hash,
    as the OpenID Foundation's certified implementations do). The default is RS256, the
    default ID token algorithm (OIDC Registration §2). Raises ``ValueError`` for a value
    that is not ASCII (RFC 6749 §A.11-§A.12 allow only printable ASCII in codes and
    tokens) or an algorithm with no hash.
    """
    bits = "512" if alg == "EdDSA" else alg[-3:]
    digest_of = _HASHES.get(bits)
    if digest_of is None or alg[:2] not in ("RS", "PS", "ES", "Ed"):
        raise ValueError(f"no at_hash for alg {alg!r}")
    digest = digest_of(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")
