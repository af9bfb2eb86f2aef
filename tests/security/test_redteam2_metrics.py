"""Red team: no label of /metrics takes values an anonymous caller chooses. The request
latency histogram was labelled with the request's HTTP method as sent: RFC 9110 §9.1 lets a
method be any token, so one client sending made-up methods grew the series (a dozen per
method: buckets, sum, count) without bound, in memory and in every scrape."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.web.metrics import Scrape

NAME = "authbridge_http_request_duration_seconds_count"


def test_made_up_methods_do_not_make_new_series(client: TestClient) -> None:
    for i in range(20):
        client.request(f"BLOWUP{i}", "/healthz")
    client.get("/healthz")
    methods = {labels["method"] for labels in Scrape(client.get("/metrics").text).labels(NAME)}
    assert not any(m.startswith("BLOWUP") for m in methods), sorted(methods)
    # RFC 9110 §9.3's methods keep their own series.
    assert "GET" in methods
