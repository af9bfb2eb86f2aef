"""Regenerate ``vectors.json``: RFC vectors plus forged ones, made with raw ``cryptography``.

    python tests/data/jose/make_vectors.py > tests/data/jose/vectors.json

Each vector: a compact JWS, the public JWK(s), the algorithm allow-list and whether a
correct verifier must accept it. The differential test replays them through our fast path
and through joserfc; the two must agree.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint(n: int, size: int) -> str:
    return b64(n.to_bytes(size, "big"))


def main() -> None:
    vectors: list[dict[str, object]] = []
    # RFC 7515 Appendix A.3 (ES256) and RFC 8037 Appendix A.4 (Ed25519), verbatim.
    rfc_es = {
        "kty": "EC",
        "crv": "P-256",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    }
    rfc_es_token = (
        "eyJhbGciOiJFUzI1NiJ9."
        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
        "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
    )
    rfc_ed = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    rfc_ed_token = (
        "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
        "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
    )

    def add(name: str, token: str, jwk: dict[str, object], algs: list[str], valid: bool) -> None:
        vectors.append(
            {"name": name, "token": token, "jwk": jwk, "algorithms": algs, "valid": valid}
        )

    add("rfc7515-a3-es256", rfc_es_token, rfc_es, ["ES256"], True)
    add("rfc8037-a4-ed25519", rfc_ed_token, rfc_ed, ["EdDSA"], True)
    head, payload, sig = rfc_es_token.split(".")
    add("rfc7515-a3-last-char-flipped", f"{head}.{payload}.{sig[:-1]}A", rfc_es, ["ES256"], False)
    add("rfc7515-a3-es256-not-allowed", rfc_es_token, rfc_es, ["RS256"], False)
    head, payload, sig = rfc_ed_token.split(".")
    add(
        "rfc8037-a4-other-payload",
        f"{head}.{b64(b'Example of Ed448 signing')}.{sig}",
        rfc_ed,
        ["EdDSA"],
        False,
    )

    claims = b64(json.dumps({"iss": "https://auth.example.com", "sub": "u"}).encode())
    ec_key = ec.generate_private_key(ec.SECP256R1())
    nums = ec_key.public_key().public_numbers()
    ec_jwk = {"kty": "EC", "crv": "P-256", "x": uint(nums.x, 32), "y": uint(nums.y, 32)}
    rsa_key = rsa.generate_private_key(65537, 2048)
    rn = rsa_key.public_key().public_numbers()
    rsa_jwk = {"kty": "RSA", "n": uint(rn.n, 256), "e": uint(rn.e, 3)}
    ed_key = ed25519.Ed25519PrivateKey.generate()
    ed_raw = ed_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    ed_jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64(ed_raw)}

    def es256(header: dict[str, object], high_s: bool = False) -> str:
        h = b64(json.dumps(header).encode())
        r, s = decode_dss_signature(
            ec_key.sign(f"{h}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
        )
        if high_s:  # (r, n - s) is the other valid signature: ECDSA is malleable
            s = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551 - s
        return f"{h}.{claims}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def rs(alg: str, header: dict[str, object]) -> str:
        h = b64(json.dumps(header).encode())
        pad: padding.AsymmetricPadding = (
            padding.PKCS1v15() if alg == "RS256" else padding.PSS(padding.MGF1(hashes.SHA256()), 32)
        )
        sig = rsa_key.sign(f"{h}.{claims}".encode(), pad, hashes.SHA256())
        return f"{h}.{claims}.{b64(sig)}"

    def ed(header: dict[str, object]) -> str:
        h = b64(json.dumps(header).encode())
        return f"{h}.{claims}.{b64(ed_key.sign(f'{h}.{claims}'.encode()))}"

    def ec_token(key: ec.EllipticCurvePrivateKey, alg: str, size: int, want: str = "") -> str:
        """A signature whose R (``want="r"``) or S (``"s"``) has a leading zero octet, so that
        its DER INTEGER is shorter than the JWS field (RFC 7518 §3.4 keeps the zeros)."""
        h = b64(json.dumps({"alg": alg}).encode())
        hash_cls = {32: hashes.SHA256, 48: hashes.SHA384, 66: hashes.SHA512}[size]
        while True:
            r, s = decode_dss_signature(key.sign(f"{h}.{claims}".encode(), ec.ECDSA(hash_cls())))
            short = 1 << (8 * size - 8)
            if (want == "r" and r < short) or (want == "s" and s < short) or not want:
                return f"{h}.{claims}.{b64(r.to_bytes(size, 'big') + s.to_bytes(size, 'big'))}"

    def ec_jwk_of(key: ec.EllipticCurvePrivateKey, crv: str, size: int) -> dict[str, object]:
        n = key.public_key().public_numbers()
        return {"kty": "EC", "crv": crv, "x": uint(n.x, size), "y": uint(n.y, size)}

    add("es256-valid", es256({"alg": "ES256"}), ec_jwk, ["ES256"], True)
    add("es256-short-r-valid", ec_token(ec_key, "ES256", 32, "r"), ec_jwk, ["ES256"], True)
    add("es256-short-s-valid", ec_token(ec_key, "ES256", 32, "s"), ec_jwk, ["ES256"], True)
    p384 = ec.generate_private_key(ec.SECP384R1())
    add("es384-valid", ec_token(p384, "ES384", 48), ec_jwk_of(p384, "P-384", 48), ["ES384"], True)
    p521 = ec.generate_private_key(ec.SECP521R1())
    p521_jwk = ec_jwk_of(p521, "P-521", 66)
    t = ec_token(p521, "ES512", 66)
    add("es512-valid", t, p521_jwk, ["ES512"], True)  # DER SEQUENCE needs the long length
    h, p, s = t.split(".")
    raw = base64.urlsafe_b64decode(s + "==")
    add("es512-truncated", f"{h}.{p}.{b64(raw[:-1])}", p521_jwk, ["ES512"], False)
    add(
        "es512-s-flipped",
        f"{h}.{p}.{b64(raw[:-1] + bytes([raw[-1] ^ 1]))}",
        p521_jwk,
        ["ES512"],
        False,
    )
    add("es256-high-s-valid", es256({"alg": "ES256"}, high_s=True), ec_jwk, ["ES256"], True)
    add("rs256-valid", rs("RS256", {"alg": "RS256"}), rsa_jwk, ["RS256"], True)
    add("ps256-valid", rs("PS256", {"alg": "PS256"}), rsa_jwk, ["PS256"], True)
    add("eddsa-valid", ed({"alg": "EdDSA"}), ed_jwk, ["EdDSA"], True)

    t = es256({"alg": "ES256"})
    h, p, s = t.split(".")
    raw = base64.urlsafe_b64decode(s + "==")
    add("es256-zero-r", f"{h}.{p}.{b64(bytes(32) + raw[32:])}", ec_jwk, ["ES256"], False)
    add("es256-zero-signature", f"{h}.{p}.{b64(bytes(64))}", ec_jwk, ["ES256"], False)
    add("es256-truncated", f"{h}.{p}.{b64(raw[:63])}", ec_jwk, ["ES256"], False)
    add(
        "es256-der",
        f"{h}.{p}.{b64(ec_key.sign(f'{h}.{p}'.encode(), ec.ECDSA(hashes.SHA256())))}",
        ec_jwk,
        ["ES256"],
        False,
    )
    add("es256-other-payload", f"{h}.{b64(b'{}')}.{s}", ec_jwk, ["ES256"], False)
    add(
        "es256-alg-swapped-to-es384",
        f"{b64(json.dumps({'alg': 'ES384'}).encode())}.{p}.{s}",
        ec_jwk,
        ["ES256", "ES384"],
        False,
    )
    add("es256-key-with-eddsa-alg", ed({"alg": "EdDSA"}), ec_jwk, ["EdDSA"], False)
    add("rs256-signature-under-ps256", rs("RS256", {"alg": "PS256"}), rsa_jwk, ["PS256"], False)
    t = rs("RS256", {"alg": "RS256"})
    h, p, s = t.split(".")
    extended = b64(bytes(1) + base64.urlsafe_b64decode(s + "=="))
    add("rs256-signature-extended", f"{h}.{p}.{extended}", rsa_jwk, ["RS256"], False)
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hh = b64(json.dumps({"alg": "HS256"}).encode())
    mac = hmac.new(pem, f"{hh}.{claims}".encode(), hashlib.sha256).digest()
    add("hs256-with-rsa-public-pem", f"{hh}.{claims}.{b64(mac)}", rsa_jwk, ["RS256"], False)
    hn = b64(json.dumps({"alg": "none"}).encode())
    add("alg-none", f"{hn}.{claims}.", ec_jwk, ["ES256"], False)
    t = ed({"alg": "EdDSA"})
    h, p, s = t.split(".")
    add(
        "eddsa-flipped",
        f"{h}.{p}.{s[:5]}{'A' if s[5] != 'A' else 'B'}{s[6:]}",
        ed_jwk,
        ["EdDSA"],
        False,
    )
    json.dump({"vectors": vectors}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
