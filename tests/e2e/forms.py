"""Reading HTML forms the way a browser does: every named input of a form, by its action."""

from __future__ import annotations

from html.parser import HTMLParser

__all__ = ["form_fields"]


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, str]] = {}
        self._current: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._current = self.forms.setdefault(attributes.get("action", ""), {})
        elif tag == "input" and self._current is not None and "name" in attributes:
            self._current[attributes["name"]] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def form_fields(html: str, action: str) -> dict[str, str]:
    """The named inputs (hidden ones included: csrf_token, token, next) of the form posting
    to `action`; fails the test if the page has no such form."""
    parser = _Forms()
    parser.feed(html)
    assert action in parser.forms, f"no form posting to {action}; forms: {list(parser.forms)}"
    return dict(parser.forms[action])
