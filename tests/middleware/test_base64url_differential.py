"""Differential test of the hand-written base64url path (``jws.b64url_decode``, the
segments ``jws.split_compact`` hands to ``jws.decode_segment``, and ``jws.decode_payload``,
which inlines that decoding) against the standard library's ``base64.urlsafe_b64decode``
(and ``json.loads`` for the payload).

The library decoder is lenient (it skips foreign bytes, accepts the standard alphabet's
``+``/``/``, and wants padding), so the reference wraps it in the rules of RFC 7515 §2 /
RFC 4648 §5 stated independently: only the 64 base64url characters, no padding, a length
that is not 1 mod 4, and the canonical encoding (RFC 4648 §3.5: re-encoding the octets
gives the text back). Ours must refuse exactly what the reference refuses and otherwise
return the same octets. Random texts lean on the bytes the fast path singles out: ``+``,
``/``, ``=``, ``.``, ``-``, ``_``, whitespace and non-ASCII.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from authbridge.middleware.errors import InvalidToken, Reason
from authbridge.middleware.jws import b64url_decode, decode_payload, decode_segment, split_compact

_URLSAFE = re.compile(rb"[A-Za-z0-9_-]*")
_CHARS = st.sampled_from(
    list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
    + ["-", "_"] * 8
    + ["+", "/", "=", ".", " ", "\n", "\x00", "\x80", "\u00e9", "!"]
)
_TEXT = st.text(_CHARS, max_size=40)


def reference(segment: bytes) -> bytes | None:
    """The standard library's decoder under RFC 7515 §2's rules, or None for a refusal."""
    if not _URLSAFE.fullmatch(segment) or len(segment) % 4 == 1:
        return None
    try:
        octets = base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        return None
    if base64.urlsafe_b64encode(octets).rstrip(b"=") != segment:
        return None  # not the canonical encoding
    return octets


def ours(segment: bytes) -> bytes | None:
    try:
        return b64url_decode(segment)
    except InvalidToken as exc:
        assert exc.reason is Reason.MALFORMED
        return None


@settings(max_examples=2000)
@given(st.binary(max_size=70))
def test_every_encoding_decodes_to_its_octets(octets: bytes) -> None:
    text = base64.urlsafe_b64encode(octets).rstrip(b"=")
    assert ours(text) == octets == reference(text)


@settings(max_examples=3000)
@given(_TEXT)
@example("")
@example("-_-_")
@example("AB==")
@example("AB+/")
@example("QR")  # non-canonical: R leaves bits set
@example("A")
def test_verdicts_and_octets_equal_the_library(text: str) -> None:
    segment = text.encode("utf-8")
    assert ours(segment) == reference(segment)


def _split_reference(token: str) -> tuple[bytes, bytes, bytes, bytes] | None:
    """RFC 7515 §7.1 compact form by the library: three non-empty segments, each decoded
    by :func:`reference`; the signing input is the text before the last dot."""
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError:
        return None
    parts = raw.split(b".")
    if len(parts) != 3 or not all(parts):
        return None
    decoded = [reference(part) for part in parts]
    if None in decoded:
        return None
    header, payload, signature = decoded
    assert header is not None and payload is not None and signature is not None
    return header, payload, signature, raw[: raw.rindex(b".")]


def _split_ours(token: str) -> tuple[bytes, bytes, bytes, bytes] | None:
    try:
        header, payload, signature, signing_input = split_compact(token, 16 * 1024, 1024)
        return (
            decode_segment(header),
            decode_segment(payload),
            decode_segment(signature),
            signing_input,
        )
    except InvalidToken as exc:
        assert exc.reason is Reason.MALFORMED
        return None


@settings(max_examples=3000)
@given(st.lists(_TEXT, min_size=1, max_size=5).map(".".join))
@example("eyJhIjoxfQ.eyJiIjoyfQ.c2ln")
@example("eyJhIjoxfQ.eyJiIjoyfQ.c2ln.")
@example("eyJhIjoxfQ..c2ln")
@example("eyJhIjoxfQ.eyJi+IjoyfQ.c2ln")
@example("eyJhIjoxfQ.eyJiIjoyfQ.c2l=")
def test_compact_split_equals_the_library(token: str) -> None:
    assert _split_ours(token) == _split_reference(token)


@settings(max_examples=1000)
@given(st.lists(st.binary(min_size=1, max_size=60), min_size=3, max_size=3))
def test_valid_compact_tokens_split_into_their_octets(parts: list[bytes]) -> None:
    texts = [base64.urlsafe_b64encode(p).rstrip(b"=").decode() for p in parts]
    token = ".".join(texts)
    expected = (*parts, f"{texts[0]}.{texts[1]}".encode())
    assert _split_ours(token) == expected == _split_reference(token)


def _no_constants(name: str) -> Any:
    raise ValueError(name)


def _payload_reference(segment: bytes) -> dict[str, Any] | None:
    """RFC 7519 §7.2 steps 9-10 by the library: the octets, as UTF-8 JSON, are an object
    (RFC 8259 §6: no NaN or Infinity)."""
    octets = reference(segment)
    if octets is None:
        return None
    try:
        value = json.loads(octets.decode("utf-8"), parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return value if type(value) is dict else None


def _payload_ours(segment: bytes) -> dict[str, Any] | None:
    """``decode_payload`` (its base64 decoding is inlined) on the segment as the split hands
    it over: ``+``, ``/`` and ``=`` refused, the rest mapped to the standard alphabet."""
    if b"+" in segment or b"/" in segment or b"=" in segment:
        return None
    try:
        return decode_payload(segment.replace(b"-", b"+").replace(b"_", b"/"))
    except InvalidToken as exc:
        assert exc.reason is Reason.MALFORMED
        return None


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=2000)
@given(_JSON, st.sampled_from(["", " ", "\n", "x", "NaN", "]"]), st.integers(0, 3))
@example({"a": 1}, "", 0)
@example([1], "", 0)
def test_payload_decoding_equals_the_library(value: Any, tail: str, flip: int) -> None:
    """Encoded JSON values (objects or not), with a trailing character, and with the last
    base64url character's unused bits set (``flip``): same verdict and same claims."""
    segment = base64.urlsafe_b64encode((json.dumps(value) + tail).encode()).rstrip(b"=")
    if flip and len(segment) % 4:
        alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        last = alphabet.index(segment[-1]) | flip
        segment = segment[:-1] + alphabet[last : last + 1]
    assert _payload_ours(segment) == _payload_reference(segment)


@settings(max_examples=2000)
@given(_TEXT)
def test_payload_verdicts_on_random_text_equal_the_library(text: str) -> None:
    segment = text.encode("utf-8")
    assert _payload_ours(segment) == _payload_reference(segment)
