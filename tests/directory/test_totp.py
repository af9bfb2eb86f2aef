"""TOTP (RFC 6238) and recovery codes: Appendix B's vectors, the ±1 step window to the
second, single use of codes (§5.2), sealing at rest, recovery codes used once."""

from __future__ import annotations

import base64
import hashlib
import re
from base64 import b32encode
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest

from authbridge.clock import utcnow
from authbridge.config.model import Settings
from authbridge.directory.passwords import PasswordHashing
from authbridge.directory.totp import (
    ENROLMENT_TTL,
    RECOVERY_CODES,
    STEP,
    SecondFactors,
    mfa_needed,
    normalize_recovery_code,
)
from authbridge.storage import Storage
from authbridge.storage.counters import DatabaseReplayCache
from authbridge.tokens.sealing import KeySealer

VECTORS = Path(__file__).resolve().parent.parent / "data" / "totp" / "rfc6238_appendix_b.txt"
ROW = re.compile(r"^\s*\|\s*(\d+)\s*\|\s*[\d-]+\s*\|\s*([0-9A-F]{16})\s*\|\s*(\d{8})\s*\|\s*(\w+)")
# Appendix A's seeds, one per mode (the table's text names the SHA1 one).
SEEDS = {
    "SHA1": b"12345678901234567890",
    "SHA256": b"12345678901234567890123456789012",
    "SHA512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
DIGESTS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}
CHEAP = PasswordHashing(memory_cost=8, time_cost=1, parallelism=1)


def _vectors() -> list[tuple[int, str, str, str]]:
    rows = [ROW.match(line) for line in VECTORS.read_text().splitlines()]
    found = [(int(m[1]), m[2], m[3], m[4]) for m in rows if m]
    assert len(found) == 18  # six times, three modes
    return found


@pytest.mark.parametrize(("when", "step_hex", "code", "mode"), _vectors())
def test_rfc6238_appendix_b_vectors(when: int, step_hex: str, code: str, mode: str) -> None:
    secret = b32encode(SEEDS[mode]).decode()
    totp = pyotp.TOTP(secret, digits=8, digest=DIGESTS[mode], interval=30)
    assert when // 30 == int(step_hex, 16)  # T = floor((time - T0) / X), T0 = 0
    assert totp.at(when) == code


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _factors(storage: Storage, clock: Clock, sealer: KeySealer | None = None) -> SecondFactors:
    replay = DatabaseReplayCache(storage.rate_limits)
    return SecondFactors(
        storage.mfa,
        storage.values,
        replay,
        sealer or KeySealer(None),
        CHEAP,
        "Authbridge",
        clock=clock,
    )


def _enrolled(storage: Storage, clock: Clock) -> tuple[SecondFactors, str, str, list[str]]:
    user = storage.users.create(username="ada@example.com")
    factors = _factors(storage, clock)
    enrolment = factors.start_enrolment(user.id, user.username, binding=SESSION)
    assert enrolment is not None
    codes = factors.confirm(user.id, pyotp.TOTP(enrolment.secret).at(clock.now), binding=SESSION)
    assert codes is not None
    return factors, user.id, enrolment.secret, codes


SESSION = "one browser session"

# A time in the middle of nowhere special: the start of a step, so edges are exact.
STEP_START = 1_800_000_000 - 1_800_000_000 % STEP


def test_enrolment_shows_a_key_uri_and_a_qr_code_and_needs_a_first_code(storage: Storage) -> None:
    clock = Clock(STEP_START)
    user = storage.users.create(username="ada@example.com")
    factors = _factors(storage, clock)
    enrolment = factors.start_enrolment(user.id, user.username, binding=SESSION)
    assert enrolment is not None
    # Key Uri Format: otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=ISSUER
    parts = urlsplit(enrolment.uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert unquote(parts.path) == "/Authbridge:ada@example.com"
    query = parse_qs(parts.query)
    assert query["secret"] == [enrolment.secret] and query["issuer"] == ["Authbridge"]
    assert len(enrolment.secret) == 32  # 160 bits, RFC 4226 R6
    assert enrolment.qr_svg.startswith("<svg") and "<script" not in enrolment.qr_svg
    # Reloading the page shows the same pending key; nothing is on until a code confirms it.
    again = factors.start_enrolment(user.id, user.username, binding=SESSION)
    assert again is not None and again.secret == enrolment.secret
    assert not factors.enrolled(user.id)
    right = pyotp.TOTP(enrolment.secret).at(clock.now)
    assert factors.confirm(user.id, f"{(int(right) + 1) % 10**6:06d}", binding=SESSION) is None
    codes = factors.confirm(user.id, right, binding=SESSION)
    assert codes is not None and len(codes) == RECOVERY_CODES == len(set(codes))
    assert factors.enrolled(user.id)
    assert (
        factors.start_enrolment(user.id, user.username, binding=SESSION) is None
    )  # remove it first


def test_an_unconfirmed_secret_serves_one_session_briefly_and_once(storage: Storage) -> None:
    """Whoever starts an enrolment elsewhere (someone holding the password, at the sign-in's
    enrolment step) never sees the key another session is setting up, nor can they use
    it; the key lapses within minutes and is gone once confirmed."""
    clock = Clock(STEP_START)
    user = storage.users.create(username="ada@example.com")
    factors = _factors(storage, clock)
    first = factors.start_enrolment(user.id, user.username, binding="session A")
    second = factors.start_enrolment(user.id, user.username, binding="session B")
    assert first is not None and second is not None
    assert second.secret != first.secret  # another session: a new key, never A's
    # Starting again replaced A's key: it no longer confirms anything, in A or in B.
    code_a = pyotp.TOTP(first.secret).at(clock.now)
    assert factors.confirm(user.id, code_a, binding="session A") is None
    assert factors.confirm(user.id, code_a, binding="session B") is None
    # B's key is not A's to confirm, and waits only minutes.
    clock.now += STEP
    code_b = pyotp.TOTP(second.secret).at(clock.now)
    assert factors.confirm(user.id, code_b, binding="session A") is None
    key = (
        "totp-enrol:"
        + base64.urlsafe_b64encode(hashlib.sha256(user.id.encode()).digest()).rstrip(b"=").decode()
    )
    lapses = storage.values.expires_at(key)
    assert lapses is not None and lapses <= utcnow() + ENROLMENT_TTL <= utcnow() + timedelta(
        minutes=15
    )
    record = storage.values.get(key)
    assert record is not None
    storage.values.put(key, record, expires_at=utcnow() - timedelta(seconds=1))
    assert factors.confirm(user.id, code_b, binding="session B") is None  # lapsed
    # A fresh start in B; confirmed once, the key is used up.
    third = factors.start_enrolment(user.id, user.username, binding="session B")
    assert third is not None and third.secret not in (first.secret, second.secret)
    clock.now += STEP
    assert factors.confirm(user.id, pyotp.TOTP(third.secret).at(clock.now), binding="session B")
    clock.now += STEP
    again = pyotp.TOTP(third.secret).at(clock.now)
    assert factors.confirm(user.id, again, binding="session B") is None
    assert storage.values.get(key) is None
    assert factors.start_enrolment(user.id, user.username, binding="session A") is None


def test_secret_is_sealed_at_rest_bound_to_the_user(storage: Storage) -> None:
    sealer = KeySealer("a key encryption key from the environment")
    clock = Clock(STEP_START)
    user = storage.users.create(username="ada@example.com")
    factors = _factors(storage, clock, sealer)
    enrolment = factors.start_enrolment(user.id, user.username, binding=SESSION)
    assert enrolment is not None
    code = pyotp.TOTP(enrolment.secret).at(clock.now)
    assert factors.confirm(user.id, code, binding=SESSION) is not None
    stored = storage.mfa.totp(user.id)
    assert stored is not None
    assert KeySealer.is_sealed(stored.secret) and enrolment.secret not in stored.secret
    assert sealer.unseal(stored.secret, "totp:" + user.id) == enrolment.secret
    with pytest.raises(Exception, match="does not open"):
        sealer.unseal(stored.secret, "totp:someone-else")  # not movable to another user


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (-31, False),  # before the previous step: refused
        (-30, True),  # the previous step's first second
        (-1, True),
        (0, True),
        (29, True),  # the code's own step
        (30, True),  # the next step
        (59, True),  # the next step's last second
        (60, False),  # two steps on: refused
        (90, False),
    ],
)
def test_window_is_one_step_either_side_to_the_second(
    storage: Storage, offset: int, accepted: bool
) -> None:
    clock = Clock(STEP_START)
    factors, user_id, secret, _ = _enrolled(storage, clock)
    code = pyotp.TOTP(secret).at(STEP_START + 5 * STEP)  # a code of a later step, unused
    clock.now = STEP_START + 5 * STEP + offset
    assert factors.verify_totp(user_id, code) is accepted


def test_a_code_is_refused_the_second_time_within_its_window(storage: Storage) -> None:
    clock = Clock(STEP_START)
    factors, user_id, secret, _ = _enrolled(storage, clock)
    clock.now = STEP_START + 3 * STEP + 10
    code = pyotp.TOTP(secret).at(clock.now)
    assert factors.verify(user_id, code) == "otp"
    assert factors.verify(user_id, code) is None  # replay, same second
    clock.now += STEP  # still inside the window of that code
    assert factors.verify(user_id, code) is None
    # The confirmation's own code was used up by the enrolment too.
    clock.now = STEP_START
    assert factors.verify(user_id, pyotp.TOTP(secret).at(STEP_START)) is None
    # The next step's code works once.
    clock.now = STEP_START + 4 * STEP + 10
    assert factors.verify(user_id, pyotp.TOTP(secret).at(clock.now)) == "otp"


def test_recovery_codes_work_once_each_and_are_stored_hashed(storage: Storage) -> None:
    clock = Clock(STEP_START)
    factors, user_id, _, codes = _enrolled(storage, clock)
    stored = [h for _, h in storage.mfa.unused_recovery_codes(user_id)]
    assert len(stored) == RECOVERY_CODES
    assert all(h.startswith("$argon2id$") for h in stored)
    assert not {normalize_recovery_code(c) for c in codes} & set(stored)
    assert factors.verify(user_id, codes[3].upper().replace("-", " ")) == "recovery"
    assert factors.verify(user_id, codes[3]) is None  # used up
    assert factors.status(user_id).recovery_codes_left == RECOVERY_CODES - 1
    assert factors.verify(user_id, "zzzzz-zzzzz") is None
    assert factors.verify(user_id, codes[4]) == "recovery"


def test_new_recovery_codes_need_a_current_code_and_retire_the_old_ones(storage: Storage) -> None:
    clock = Clock(STEP_START)
    factors, user_id, secret, old = _enrolled(storage, clock)
    clock.now = STEP_START + 2 * STEP
    assert factors.regenerate_recovery_codes(user_id, "123456x") is None
    fresh = factors.regenerate_recovery_codes(user_id, pyotp.TOTP(secret).at(clock.now))
    assert fresh is not None and not set(fresh) & set(old)
    assert factors.verify(user_id, old[0]) is None
    assert factors.verify(user_id, fresh[0]) == "recovery"


def test_remove_deletes_the_secret_and_the_codes(storage: Storage) -> None:
    clock = Clock(STEP_START)
    factors, user_id, _, codes = _enrolled(storage, clock)
    assert factors.remove(user_id)
    assert not factors.enrolled(user_id)
    assert factors.verify(user_id, codes[0]) is None
    assert not factors.remove(user_id)


def _settings(mfa: str, admins: bool) -> Settings:
    settings = Settings()
    local = settings.auth.local.model_copy(update={"mfa": mfa, "mfa_required_for_admins": admins})
    return settings.model_copy(update={"auth": settings.auth.model_copy(update={"local": local})})


@pytest.mark.parametrize(
    ("mfa", "admins", "enrolled", "admin", "needed"),
    [
        ("off", False, True, False, None),  # turned off: nobody is asked
        ("optional", False, False, False, None),
        ("optional", False, True, False, "verify"),
        ("required", False, False, False, "enrol"),
        ("required", False, True, False, "verify"),
        ("optional", True, False, True, "enrol"),  # admins must have one
        ("optional", True, False, False, None),
        ("off", True, False, True, "enrol"),  # the admin switch holds even with mfa off
        ("off", True, True, True, "verify"),
    ],
)
def test_policy(mfa: str, admins: bool, enrolled: bool, admin: bool, needed: str | None) -> None:
    assert mfa_needed(_settings(mfa, admins), enrolled=enrolled, admin=admin) == needed
