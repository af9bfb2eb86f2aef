"""Red team, issue 10 defect 6: ways around the streaming body limits (web/limits.py).

HTTP allows a header to be sent twice. The app (Starlette's `Request.headers`) reads the
first Content-Type; a limit that reads another one counts the fields of a different body
than the one parsed.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

FIELDS = 300  # over the default limit of 100 fields, far under the 64 KiB body limit
URLENCODED = "&".join(f"f{i}=v" for i in range(FIELDS)).encode()
MULTIPART = (
    b"".join(
        b'--XyZ\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n' % i
        for i in range(FIELDS)
    )
    + b"--XyZ--\r\n"
)


def test_a_second_content_type_header_does_not_hide_a_form_from_the_field_limit(
    client: TestClient,
) -> None:
    for path, content_type, body in [
        ("/oauth2/token", "application/x-www-form-urlencoded", URLENCODED),
        ("/login", "application/x-www-form-urlencoded", URLENCODED),
        ("/oauth2/authorize", "multipart/form-data; boundary=XyZ", MULTIPART),
    ]:
        plain = client.post(path, content=body, headers={"content-type": content_type})
        assert plain.status_code == 413, path
        doubled = client.post(
            path,
            content=body,
            headers=[("content-type", content_type), ("content-type", "text/plain")],
        )
        assert doubled.status_code == 413, (path, doubled.status_code, doubled.text[:200])


def test_a_field_over_the_size_limit_is_refused_when_another_field_follows_it(
    client: TestClient,
) -> None:
    """The per-field size was judged on the last field of each arriving chunk only: a
    large field followed by a small one in the same chunk was never measured."""
    large = b"b" * (40 * 1024)  # over the default 32 KiB per field, under the 64 KiB body
    part_header = b"X-Pad: " + large + b"\r\n"
    for path, content_type, body in [
        ("/oauth2/token", "application/x-www-form-urlencoded", b"a=" + large + b"&c=d"),
        ("/login", "application/x-www-form-urlencoded", b"a=" + large + b"&c=d"),
        (
            "/oauth2/authorize",
            "multipart/form-data; boundary=XyZ",
            b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n'
            + part_header
            + b'\r\nv\r\n--XyZ\r\nContent-Disposition: form-data; name="c"\r\n\r\nd\r\n--XyZ--\r\n',
        ),
    ]:
        response = client.post(path, content=body, headers={"content-type": content_type})
        assert response.status_code == 413, (path, response.status_code, response.text[:200])
