"""How a person signed in: RFC 8176 method values (`amr`), authbridge's `acr` levels, and
whether an authentication satisfies a request for a level (OIDC Core §2, §3.1.2.1; RFC 9470).

Framework-free and free of authbridge imports, like the rest of the middleware: the
middleware's per-route `require_acr`/`require_amr` use it, and so do authbridge's
connectors (an upstream IdP's proof of MFA), token issuer and OpenID Provider, since this
package is the lowest layer (one vocabulary, not one per layer).

Decisions (docs/mfa.md says the same for operators):

* **amr values** are RFC 8176 §2's registered ones. RFC 8176 has no value for "signed in
  through a federated IdP" (Entra's `fed` is its own, not registered), so an upstream
  sign-in carries the upstream's registered values when its ID token states them, and no
  `amr` at all when it does not: OIDC Core §2 makes `amr` OPTIONAL, and an absent claim
  says "unknown" where an invented value would say something false.
* **Multi-factor** means RFC 8176's `mfa`, or methods of two different factor kinds (NIST
  SP 800-63B §4: something you know, have, are; RFC 8176 §2 describes each value).
  One possession factor alone (`otp`, `hwk`...) is one factor, and `mca` (several
  channels), `user` (presence), `geo`, `rba`, `wia` are not factors of their own.
  Entra's unregistered `ngcmfa` ("equivalent to mfa") counts; its `wiaormfa` ("Windows
  or MFA") does not, since it may be Windows sign-in alone.
* **acr values** are authbridge's own URNs (OIDC Core §2 leaves values to agreement):
  `urn:authbridge:acr:1fa`, someone authenticated (password, or an IdP that did not
  prove more); `urn:authbridge:acr:mfa`, a second factor was confirmed (locally, or by an
  IdP whose ID token proved it). A higher level satisfies a request for a lower one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = [
    "ACR_1FA",
    "ACR_MFA",
    "ACR_VALUES",
    "REGISTERED_AMR",
    "acr_for",
    "acr_satisfies",
    "clean_amr",
    "is_multi_factor",
    "recorded_amr",
]

ACR_1FA = "urn:authbridge:acr:1fa"
ACR_MFA = "urn:authbridge:acr:mfa"
# Lowest first: a level satisfies a request for any level at or below it.
ACR_VALUES: tuple[str, ...] = (ACR_1FA, ACR_MFA)

# RFC 8176 §2 (the IANA "Authentication Method Reference Values" registry's initial set).
REGISTERED_AMR = frozenset(
    {
        "face", "fpt", "geo", "hwk", "iris", "kba", "mca", "mfa", "otp", "pin", "pop",
        "pwd", "rba", "retina", "sc", "sms", "swk", "tel", "user", "vbm", "wia",
    }
)  # fmt: skip
_KNOW = frozenset({"pwd", "pin", "kba"})
_HAVE = frozenset({"otp", "hwk", "swk", "sms", "tel", "sc", "pop"})
_ARE = frozenset({"fpt", "face", "iris", "retina", "vbm"})
# Vendor values that assert MFA outright (Entra ID: tests/data/idp_authn/entra.json).
_MFA_ALIASES = frozenset({"mfa", "ngcmfa"})
MAX_AMR_VALUES = 16


def clean_amr(values: object, *, registered_only: bool = False) -> tuple[str, ...]:
    """An `amr` claim as a tuple of distinct short tokens (order kept); anything that is not
    a list of strings is no claim at all. `registered_only`: RFC 8176 values only, for an
    upstream's claim passed on in the platform's own tokens."""
    if not isinstance(values, (list, tuple)):
        return ()
    out: list[str] = []
    for value in values:
        if not isinstance(value, str) or not value or len(value) > 32 or value.split() != [value]:
            continue
        if registered_only and value not in REGISTERED_AMR:
            continue
        if value not in out:
            out.append(value)
    return tuple(out[:MAX_AMR_VALUES])


def is_multi_factor(amr: Iterable[str]) -> bool:
    """Whether these methods prove more than one factor (see the module docstring)."""
    methods = set(amr)
    if methods & _MFA_ALIASES:
        return True
    kinds = sum(1 for kind in (_KNOW, _HAVE, _ARE) if methods & kind)
    return kinds >= 2


def recorded_amr(values: object, *, registered_only: bool = False) -> tuple[str, ...]:
    """The `amr` a session records: `clean_amr`, plus `mfa` when the methods are of two
    factor kinds (RFC 8176 §2: with `mfa`, the specific methods may also be included), so
    a relying party checking for `mfa` alone reads the same thing whoever signed in."""
    methods = clean_amr(values, registered_only=registered_only)
    if is_multi_factor(clean_amr(values)) and "mfa" not in methods:
        methods = (*methods, "mfa")[:MAX_AMR_VALUES]
    return methods


def acr_for(amr: Iterable[str]) -> str:
    """authbridge's acr level of an authentication by these methods."""
    return ACR_MFA if is_multi_factor(amr) else ACR_1FA


def acr_satisfies(achieved: str | None, requested: Sequence[str]) -> bool:
    """Whether an authentication at level `achieved` satisfies a request naming `requested`
    (OIDC Core §3.1.2.1 `acr_values`: any one of them). A value authbridge does not define
    is met only by that exact value; one of ours is met by it or a higher level."""
    if not requested:
        return True
    if achieved is None:
        return False
    for value in requested:
        if value == achieved:
            return True
        ranked = value in ACR_VALUES and achieved in ACR_VALUES
        if ranked and ACR_VALUES.index(achieved) >= ACR_VALUES.index(value):
            return True
    return False
