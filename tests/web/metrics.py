"""Scraping /metrics as Prometheus does: parsed by prometheus_client's own text parser."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    """The samples of one scrape, by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples = [s for f in text_string_to_metric_families(text) for s in f.samples]

    def value(self, name: str, **labels: str) -> float:
        """The sample `name` with exactly `labels`; 0 when absent (a counter never hit)."""
        for sample in self.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
        return 0.0

    def labels(self, name: str) -> list[dict[str, str]]:
        return [dict(s.labels) for s in self.samples if s.name == name]

    def names(self) -> set[str]:
        return {s.name for s in self.samples}


def scrape(client: Any, path: str = "/metrics") -> Scrape:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return Scrape(response.text)
