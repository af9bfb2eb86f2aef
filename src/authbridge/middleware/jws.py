"""The fast path: JWS Compact Serialization checked directly over ``cryptography``.

RFC 7515 §5.2 (validation steps), §7.1 (compact form), RFC 7518 §3 (algorithms), RFC 8725
§3 (JWT BCP). Only the allow-listed asymmetric algorithms exist here; there is no code path
for ``none`` or HMAC, so algorithm confusion has nothing to confuse. The result agrees with
joserfc on valid and forged vectors (``tests/middleware/test_jws_differential.py``) while
costing a few microseconds on top of the signature check itself.

What is cached: the *parsed and checked header* of tokens whose signature verified, keyed by
its exact base64url text. Header checking is a pure function of that text, and only headers
that a trusted key signed get in, so the cache can be neither poisoned nor flooded.
Verification results are never cached (the verifier's decode memo follows the same rule:
see :class:`.verifier.TokenVerifier`).

Base64url is decoded without per-segment alphabet games: the whole token is encoded to
bytes, refused if it holds ``+``, ``/`` or ``=`` (three ``memchr`` scans), and mapped to the
standard alphabet by two ``bytes.replace`` (a ``memchr`` from one ``-`` or ``_`` to the next:
about a quarter of the instructions of a ``bytes.translate`` of every byte on a typical
token; on a token made of nothing else about 3.5 times it, some 0.5 M instructions at the
16 KB bound, less than one signature check); then each segment goes to
``binascii.a2b_base64(strict_mode=True)``, which refuses every other foreign byte.
``tests/middleware/test_base64url_differential.py`` holds the verdicts and octets equal to
the standard library's ``base64.urlsafe_b64decode`` with an explicit alphabet and
canonical-form check.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import InvalidSignature

from .config import SUPPORTED_ALGORITHMS
from .errors import InvalidToken, Reason
from .keys import VerifyingKey, signature_octets

__all__ = [
    "JoseHeader",
    "b64url_decode",
    "decode_segment",
    "parse_header",
    "split_compact",
    "verify_compact",
    "verify_jwt",
]

# The bytes of the standard alphabet that base64url lacks (``+``, ``/``, padding ``=``) and
# the separator, tested by integer: ``int in bytes`` is a plain ``memchr``, where ``bytes in
# bytes`` first tries the operand as an integer and builds, then clears, a TypeError (about
# 2 k instructions a test).
_PLUS, _SLASH, _EQUALS, _DOT = 0x2B, 0x2F, 0x3D, 0x2E
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_a2b = binascii.a2b_base64
# By a segment's length % 4, the bytes its last character may be: of length % 4 == 2 (resp.
# 3) it must leave 4 (resp. 2) zero bits, otherwise several strings decode to the same bytes
# (RFC 4648 §3.5 canonical encoding); no base64 text has length % 4 == 1, so nothing may end
# it (and length % 4 == 0 is not looked up). A tuple: indexed on every segment decoded.
_CANONICAL_LAST: tuple[frozenset[int], ...] = (
    frozenset(),
    frozenset(),
    frozenset(c for i, c in enumerate(_ALPHABET) if i % 16 == 0),
    frozenset(c for i, c in enumerate(_ALPHABET) if i % 4 == 0),
)
_PAD = (b"", b"", b"==", b"=")

# RFC 8725 §3.10 / RFC 7515 §4.1.2-§4.1.6: these make the token name its own key. Never
# followed; a token carrying one is refused outright rather than silently ignored.
_FORBIDDEN = frozenset({"jku", "x5u", "jwk", "x5c", "cty", "b64"})
_MAX_KID = 256
_HEADER_CACHE_SIZE = 256


def _reject_constant(name: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON (RFC 8259 §6)")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        # RFC 7515 §4: Header Parameter names MUST be unique; we take the "reject" option.
        raise ValueError("duplicate member name")
    return out


_HEADER_DECODER = json.JSONDecoder(
    object_pairs_hook=_unique_object, parse_constant=_reject_constant
)
_PAYLOAD_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_SCAN: Callable[[str, int], tuple[Any, int]] = _PAYLOAD_DECODER.scan_once  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class JoseHeader:
    """A checked JOSE header (RFC 7515 §4). ``typ`` is normalized per §4.1.9: lower case,
    without an ``application/`` prefix, ``""`` when absent."""

    alg: str
    kid: str | None
    typ: str
    params: Mapping[str, Any]


def decode_segment(segment: bytes) -> bytes:
    """Decode one segment already mapped to the standard alphabet (see :func:`split_compact`).

    ``strict_mode`` refuses every byte outside the alphabet (``a2b_base64`` would otherwise
    skip them silently); the last-character test refuses non-canonical encodings (RFC 4648
    §3.5): both alphabets agree on the characters it allows.
    """
    rem = len(segment) & 3
    if rem:
        if segment[-1] not in _CANONICAL_LAST[rem]:
            raise InvalidToken(Reason.MALFORMED)
        segment += _PAD[rem]
    try:
        return _a2b(segment, strict_mode=True)
    except (binascii.Error, ValueError):
        raise InvalidToken(Reason.MALFORMED) from None


def b64url_decode(segment: bytes) -> bytes:
    """Strict base64url without padding (RFC 7515 §2, RFC 4648 §5), canonical only."""
    if _PLUS in segment or _SLASH in segment or _EQUALS in segment:
        raise InvalidToken(Reason.MALFORMED)
    return decode_segment(segment.replace(b"-", b"+").replace(b"_", b"/"))


def split_compact(
    token: str, max_token_bytes: int, max_header_bytes: int
) -> tuple[bytes, bytes, bytes, bytes]:
    """Split ``header.payload.signature`` (RFC 7515 §7.1), refusing every other shape.

    Returns the three segments mapped to the standard base64 alphabet (decode them with
    :func:`decode_segment`) and the JWS Signing Input (RFC 7515 §5.1 step 5), which is the
    original text. The token is encoded and mapped once, as a whole: a token holding ``+``,
    ``/`` or ``=`` is refused here, every other foreign byte by the strict decoder. Sizes are
    bounded before any decoding: an unauthenticated party controls them.

    Two partitions rather than ``split``: they find the dots with ``memchr`` where ``split``
    compares byte by byte. Exactly three non-empty parts: the last dot ends the signing
    input, the first ends the header, and the payload between them may hold no dot.
    """
    if not isinstance(token, str):
        raise InvalidToken(Reason.MALFORMED)
    if len(token) > max_token_bytes:
        raise InvalidToken(Reason.TOKEN_TOO_LARGE)
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError:
        raise InvalidToken(Reason.MALFORMED) from None
    if _PLUS in raw or _SLASH in raw or _EQUALS in raw:
        raise InvalidToken(Reason.MALFORMED)
    std = raw.replace(b"-", b"+").replace(b"_", b"/")
    signed, _, sig_b64 = std.rpartition(b".")
    header_b64, _, payload_b64 = signed.partition(b".")
    if not (header_b64 and payload_b64 and sig_b64) or _DOT in payload_b64:
        raise InvalidToken(Reason.MALFORMED)
    if len(header_b64) > max_header_bytes:
        raise InvalidToken(Reason.HEADER_TOO_LARGE)
    return header_b64, payload_b64, sig_b64, raw[: len(signed)]


def parse_header(header_std: bytes) -> JoseHeader:
    """Decode and check a JOSE header (RFC 7515 §4.1, §5.2 steps 2-5; RFC 8725 §3.1).

    ``header_std`` is the header segment as :func:`split_compact` returns it.
    """
    try:
        params = _HEADER_DECODER.decode(decode_segment(header_std).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidToken(Reason.MALFORMED) from None
    if not isinstance(params, dict):
        raise InvalidToken(Reason.MALFORMED)
    alg = params.get("alg")
    if not isinstance(alg, str):
        raise InvalidToken(Reason.MALFORMED)
    if alg not in SUPPORTED_ALGORITHMS:
        # Covers "none" (RFC 8725 §3.2) and HS* (RFC 8725 §3.1 algorithm confusion).
        raise InvalidToken(Reason.UNSUPPORTED_ALG)
    if "crit" in params:
        # RFC 7515 §4.1.11: recipients MUST reject a JWS whose crit names an extension they
        # do not understand; this verifier understands none.
        raise InvalidToken(Reason.UNKNOWN_CRIT)
    if _FORBIDDEN & params.keys():
        raise InvalidToken(Reason.FORBIDDEN_HEADER)
    kid = params.get("kid")
    if kid is not None:
        if not isinstance(kid, str):
            raise InvalidToken(Reason.MALFORMED)
        if len(kid) > _MAX_KID:
            raise InvalidToken(Reason.UNKNOWN_KID)
    typ = params.get("typ")
    if typ is None:
        typ = ""
    elif not isinstance(typ, str):
        raise InvalidToken(Reason.MALFORMED)
    else:
        typ = typ.lower()
        if typ.startswith("application/"):
            typ = typ[12:]
    return JoseHeader(alg, kid, typ, MappingProxyType(params))


class HeaderCache:
    """Bounded memo of :func:`parse_header` for headers whose signature verified."""

    def __init__(self, size: int = _HEADER_CACHE_SIZE) -> None:
        self._size = size
        self.items: dict[bytes, JoseHeader] = {}

    def get(self, header_b64: bytes) -> JoseHeader:
        found = self.items.get(header_b64)
        return found if found is not None else parse_header(header_b64)

    def remember(self, header_b64: bytes, header: JoseHeader) -> None:
        if len(self.items) < self._size:
            self.items[header_b64] = header


def decode_payload(payload_std: bytes) -> dict[str, Any]:
    """Decode the JWT Claims Set (RFC 7519 §7.2 steps 9-10): a UTF-8 JSON object.

    ``payload_std`` is the payload segment as :func:`split_compact` returns it, decoded as
    :func:`decode_segment` does (inlined: this runs once per first-time token).
    """
    rem = len(payload_std) & 3
    if rem:
        if payload_std[-1] not in _CANONICAL_LAST[rem]:
            raise InvalidToken(Reason.MALFORMED)
        payload_std += _PAD[rem]
    try:
        # binascii.Error is a ValueError.
        text = _a2b(payload_std, strict_mode=True).decode("utf-8")
        try:
            # The C scanner straight away; fall back to the full decoder (which allows
            # surrounding whitespace) if the compact form does not span the whole text.
            claims, end = _SCAN(text, 0)
            if end != len(text):
                raise StopIteration
        except StopIteration:
            claims = _PAYLOAD_DECODER.decode(text)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidToken(Reason.MALFORMED) from None
    if type(claims) is not dict:  # the decoder makes plain dicts
        raise InvalidToken(Reason.MALFORMED)
    return claims


def check_signature(
    alg: str, keys: Iterable[VerifyingKey], signing_input: bytes, signature: bytes
) -> VerifyingKey:
    """RFC 7515 §5.2 step 8: verify with the first candidate key able to serve ``alg``.

    A key only verifies algorithms it is bound to (``keys.VerifyingKey.verifiers``), so an
    RSA key cannot be used for ES256 or a P-384 key for ES256 (RFC 7518 §3.4).
    ``signature`` is in the form :func:`.keys.signature_octets` gives.
    """
    usable = False
    for key in keys:
        verify = key.verifiers.get(alg)
        if verify is None:
            continue
        usable = True
        try:
            verify(signature, signing_input)
        except (InvalidSignature, ValueError):
            continue
        return key
    raise InvalidToken(Reason.BAD_SIGNATURE if usable else Reason.UNKNOWN_KID)


def verify_compact(
    token: str,
    keys: Iterable[VerifyingKey],
    algorithms: Collection[str],
    *,
    max_token_bytes: int = 16 * 1024,
    max_header_bytes: int = 1024,
) -> tuple[JoseHeader, bytes]:
    """Verify a compact JWS against given keys and an algorithm allow-list.

    Returns the checked header and the raw payload bytes. This is the unit compared with
    ``joserfc.jws.deserialize_compact`` in the differential test.
    """
    header_b64, payload_b64, sig_b64, signing_input = split_compact(
        token, max_token_bytes, max_header_bytes
    )
    header = parse_header(header_b64)
    if header.alg not in algorithms:
        raise InvalidToken(Reason.ALG_NOT_ALLOWED)
    candidates = [k for k in keys if header.kid is None or k.kid == header.kid]
    signature = signature_octets(header.alg, decode_segment(sig_b64))
    check_signature(header.alg, candidates, signing_input, signature)
    return header, decode_segment(payload_b64)


def verify_jwt(
    token: str,
    keys: Iterable[VerifyingKey],
    algorithms: Collection[str],
    *,
    max_token_bytes: int = 16 * 1024,
) -> tuple[JoseHeader, dict[str, Any]]:
    """:func:`verify_compact`, then the payload as a JWT Claims Set (RFC 7519 §7.2 steps
    9-10: a UTF-8 JSON object). Claims are not judged: that is the caller's profile.

    For keys held locally (authbridge's provider checking its own tokens against the key
    set it publishes); tokens of a remote issuer go through :class:`.verifier.TokenVerifier`.
    """
    header, payload = verify_compact(token, keys, algorithms, max_token_bytes=max_token_bytes)
    try:
        claims = _PAYLOAD_DECODER.decode(payload.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidToken(Reason.MALFORMED) from None
    if not isinstance(claims, dict):
        raise InvalidToken(Reason.MALFORMED)
    return header, claims
