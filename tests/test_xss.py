"""Markup in job data is shown as text in every view: card, preview widget, results view.

Each view's HTML is parsed the way a browser tokenises it; a payload may appear only in
escaped form, never as an element, an event-handler attribute or a `javascript:` link.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import ipywidgets
import polars as pl
import pytest

import jobkit
from jobkit import JOB_POLARS_SCHEMA, JobPreview
from jobkit._render import render_job_card, render_results

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"
QUOTES = '"\' onmouseover="alert(3)" data-x=\''
JS_URL = "javascript:alert(4)"
PAYLOADS = (SCRIPT, IMG, QUOTES)

# Every element the views emit themselves; anything else came from user data.
OWN_TAGS = {
    "style", "div", "span", "p", "h4", "details", "summary", "ul", "li", "b", "a", "code",
    "aside", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
OWN_ATTRS = {"class", "title", "style", "href", "target", "rel", "open"}


def hostile_job() -> dict[str, Any]:
    text = " ".join(PAYLOADS)
    trait = [{"name": text, "value": text}]
    return {
        "name": f"{SCRIPT}Pwned",
        "reference": f"ref{QUOTES}{IMG}",
        "key": IMG,
        "url": JS_URL,
        "summary": text,
        "created_at": SCRIPT,
        "location": {"text": text, "fields": {"city": SCRIPT}},
        "sections": [{"name": IMG, "title": SCRIPT, "description": text}],
        **{field: text for field in ("culture", "benefits", "responsibilities")},
        **{field: text for field in ("requirements", "interviews")},
        "skills": [{"name": text, "value": text, "type": "hard"}],
        **{f: trait for f in ("languages", "tasks", "courses", "certifications", "interests")},
        "tags": [{"name": "company", "value": text}, *trait],
        "metadatas": trait,
        "ranges_float": [{"name": text, "value_min": 1.0, "value_max": 2.0, "unit": text}],
        "ranges_date": [{"name": text, "value_min": SCRIPT, "value_max": IMG}],
    }


class _Audit(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: set[str] = set()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs.update(name for name, _ in attrs)
        self.hrefs += [value or "" for name, value in attrs if name == "href"]


def assert_inert(markup: str) -> None:
    audit = _Audit()
    audit.feed(markup)
    audit.close()
    assert audit.tags <= OWN_TAGS, audit.tags - OWN_TAGS
    assert audit.attrs <= OWN_ATTRS, audit.attrs - OWN_ATTRS
    assert all(href.startswith(("http://", "https://")) for href in audit.hrefs), audit.hrefs
    assert "<script>alert" not in markup
    assert "<img " not in markup


@pytest.fixture(autouse=True)
def _close_widgets() -> Iterator[None]:
    yield
    ipywidgets.Widget.close_all()


def test_job_card_shows_markup_as_text() -> None:
    card = render_job_card(hostile_job(), errors=[(SCRIPT, IMG), ("name", QUOTES)])
    assert_inert(card)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;Pwned" in card
    assert "&lt;img src=x onerror=alert(2)&gt;" in card
    assert "&quot;&#x27; onmouseover=&quot;alert(3)&quot; data-x=&#x27;" in card
    assert JS_URL in card  # shown, as text


def test_job_object_repr_html_shows_markup_as_text() -> None:
    job = jobkit.Job.model_validate({**hostile_job(), "created_at": None, "ranges_date": None})
    assert_inert(job._repr_html_())


def test_preview_widget_shows_markup_as_text() -> None:
    row = json.loads(json.dumps(hostile_job()))
    for field in ("skills", "languages", "tasks", "courses", "certifications", "interests"):
        for trait in row[field]:
            trait["value"] = json.dumps(trait["value"])
    for field in ("tags", "metadatas"):
        for trait in row[field]:
            trait["value"] = json.dumps(trait["value"])
    row["location"]["fields"] = json.dumps(row["location"]["fields"])
    frame = pl.DataFrame([row], schema=JOB_POLARS_SCHEMA)
    errors = pl.DataFrame({"row": [0], "field": [SCRIPT], "error": [IMG]})
    view = JobPreview(frame, errors)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;Pwned" in view.card.value
    for markup in (view.card.value, view._repr_mimebundle_()["text/html"]):
        assert_inert(markup)
    view.search.value = "<script>"
    assert view.row == 0
    assert_inert(view.card.value)


def test_results_view_shows_markup_as_text() -> None:
    results = pl.DataFrame(
        {
            "row": [0, 1],
            "reference": [SCRIPT, QUOTES],
            "key": [None, None],
            "status": ["failed", IMG],  # not a status jobkit writes, but shown safely
            "http_status": [500, None],
            "attempts": [3, 0],
            "error": [IMG, SCRIPT],
        }
    )
    static = render_results(results, statuses=["failed", IMG])
    assert_inert(static)
    assert "&lt;img src=x onerror=alert(2)&gt;" in static
    view = jobkit.show_results(results)
    view.show.value = "all rows"
    for markup in (view.summary.value, view.table.value, view._repr_mimebundle_()["text/html"]):
        assert_inert(markup)
