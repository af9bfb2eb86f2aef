"""The platform's tokens: signing keys and rotation, issuing, JWKS."""

from authbridge.tokens.claims import Principal
from authbridge.tokens.issuer import IssuedToken, TokenIssuer
from authbridge.tokens.keyring import KeyRing, PublishedKeys

__all__ = ["IssuedToken", "KeyRing", "Principal", "PublishedKeys", "TokenIssuer"]
