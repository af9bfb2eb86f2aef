from .forge import access_claims, at_header, compact


def test_smoke(verifier, signers):
    for s in signers.values():
        tok = verifier.verify(compact(at_header(s), access_claims(), s))
        assert tok.principal == "jane@example.com"
