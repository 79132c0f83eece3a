"""The pure HTML views: a job card and the results of `index_frame`."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from jobkit import Job
from jobkit._render import (
    problem_rows,
    render_job_card,
    render_result_rows,
    render_results,
    render_status_summary,
    status_counts,
)

FIXTURES = Path(__file__).parent / "fixtures" / "hrflow-job-json"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data.get("data", data) if "code" in data else data


class _Text(HTMLParser):
    """The text a reader sees, per element class (`jk-title` -> its text)."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.by_class: dict[str, list[str]] = {}
        self.links: list[str] = []
        self.in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.in_style = tag == "style"
        self.stack.append(dict(attrs).get("class") or "")
        if tag == "a":
            self.links.append(dict(attrs).get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        self.in_style = False
        if self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.in_style:
            return
        for classes in self.stack:
            for cls in classes.split():
                self.by_class.setdefault(cls, []).append(data)


def texts(markup: str) -> _Text:
    parser = _Text()
    parser.feed(markup)
    return parser


def text_of(markup: str, cls: str) -> str:
    return "".join(texts(markup).by_class.get(cls, []))


def test_seed_example_job_shows_every_part_of_the_posting() -> None:
    card = render_job_card(load("seed_example_job.json"))
    seen = texts(card)

    assert text_of(card, "jk-title") == "Data Engineer"
    assert text_of(card, "jk-sub") == "Dampierre en Burly (45)"
    assert text_of(card, "jk-ids") == "reference Job's reference abc"
    assert text_of(card, "jk-summary").startswith("As an engineer for the Data Engineering")
    # the deprecated sections still show: their title and description
    assert "Searched Profile" in card
    assert "Bac+5" in card
    chips = seen.by_class["jk-chip"]
    # a null value shows only the name; a number shows beside it; bool and strings sensibly
    assert "".join(chips).count("python") == 1
    assert seen.by_class["jk-chip-value"] == ["0.9", "1", "1", "true", "tag", "metadata"]
    ranges = text_of(card, "jk-ranges")
    assert "salary: 30 – 40 eur" in ranges
    assert "Dates: 2020-05-18T21:59 → 2020-09-15T21:59" in ranges
    assert seen.links == ["https://www.pole-emploi.ai/jobs/data_engineer"]
    assert "created_at 2020-12-24T09:32:11" in text_of(card, "jk-meta")
    assert 'class="jk-errors"' not in card


@pytest.mark.parametrize(
    "fixture",
    [
        "api_response_job_created_2023.json",
        "api_response_job_edited_2023.json",
        "api_response_dummy_job_created_2023.json",
        "connectors_example_hrflow_job_2021.json",
        "docs_job_object_example_2020.json",
    ],
)
def test_real_api_objects_render_through_the_job_model(fixture: str) -> None:
    job = Job.model_validate(load(fixture))
    card = job._repr_html_()
    assert text_of(card, "jk-title") == job.name
    assert card == render_job_card(job.model_dump(mode="json"))


def test_text_fields_skills_types_and_company() -> None:
    card = render_job_card(
        {
            "name": "Backend Engineer",
            "location": {"text": "Berlin", "fields": []},
            "culture": "Remote first.",
            "requirements": "x" * 1000,
            "skills": [{"name": "go", "value": None, "type": "hard"}],
            "tags": [{"name": "Company", "value": "Acme"}, {"name": "remote", "value": False}],
            "ranges_float": [
                {"name": "salary", "value_min": 120000, "unit": "USD"},
                {"name": "bonus", "value_max": 0.15},
            ],
        }
    )
    assert text_of(card, "jk-sub") == "Acme · Berlin"
    # short texts are open, long ones start folded
    assert "<details open><summary>Culture</summary>" in card
    assert "<details><summary>Requirements</summary>" in card
    assert 'class="jk-chip jk-chip-hard" title="hard skill"' in card
    assert "false" in texts(card).by_class["jk-chip-value"]
    ranges = text_of(card, "jk-ranges")
    assert "salary: ≥ 120,000 USD" in ranges
    assert "bonus: ≤ 0.15" in ranges


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,x",
        "ftp://example.com/job",
        "//example.com/job",
        "https:///nohost",
    ],
)
def test_only_http_urls_become_links(url: str) -> None:
    card = render_job_card({"name": "x", "url": url})
    assert texts(card).links == []
    assert "<code>" in card


def test_http_url_link_is_escaped_in_the_attribute() -> None:
    card = render_job_card({"name": "x", "url": 'https://example.com/?a=1&b="2"'})
    assert 'href="https://example.com/?a=1&amp;b=&quot;2&quot;"' in card
    assert texts(card).links == ['https://example.com/?a=1&b="2"']


def test_errors_sit_beside_the_card_by_field() -> None:
    card = render_job_card(
        {"name": "", "location": {"lat": 123.0}},
        errors=[("name", "must not be empty"), ("location.lat", "must be <= 90")],
    )
    assert 'class="jk-card jk-invalid"' in card
    assert text_of(card, "jk-errors-title") == "2 problems"
    assert "name: must not be empty" in text_of(card, "jk-errors")
    assert "location.lat: must be <= 90" in text_of(card, "jk-errors")
    assert text_of(card, "jk-title") == "(no name)"


def test_card_is_deterministic_and_ignores_nulls() -> None:
    job = load("seed_example_job.json")
    assert render_job_card(job) == render_job_card(dict(reversed(job.items())))
    sparse = render_job_card({"name": "x", "summary": None, "skills": None, "tags": []})
    assert "jk-summary" not in sparse.split("</style>")[1]
    assert "jk-block" not in sparse.split("</style>")[1]


def test_job_repr_is_short_and_deterministic() -> None:
    job = Job.model_validate(load("seed_example_job.json"))
    assert repr(job) == "Job(name='Data Engineer', reference=\"Job's reference abc\", key=None)"


RESULTS = pl.DataFrame(
    {
        "row": [0, 1, 2, 3, 4, 5],
        "reference": ["a", "b", "c", "d", "e", "f"],
        "key": ["k0", "k1", None, None, "k4", None],
        "status": ["created", "created", "failed", "invalid", "exists", "rejected"],
        "http_status": [201, 201, 500, None, 200, 400],
        "attempts": [1, 1, 5, 0, 1, 1],
        "error": [None, None, "HTTP 500 after 5 attempts", "name: must not be empty", None, "x"],
    }
)


def test_status_counts_are_in_a_fixed_order() -> None:
    assert status_counts(RESULTS) == [
        ("created", 2),
        ("exists", 1),
        ("invalid", 1),
        ("rejected", 1),
        ("failed", 1),
    ]
    odd = pl.DataFrame({"status": ["zzz", None, "created"]})
    assert status_counts(odd) == [("created", 1), ("unknown", 1), ("zzz", 1)]


def test_status_summary_bar_widths_add_up() -> None:
    summary = render_status_summary(status_counts(RESULTS))
    assert text_of(summary, "jk-summary-line") == "6 rows"
    assert "width:33.33%;background:#2e7d32" in summary  # created: 2 of 6
    assert summary.count("width:16.67%") == 4
    assert render_status_summary([]) == '<div class="jk-empty">no rows</div>'


def test_results_view_lists_problem_rows_with_errors_paged() -> None:
    view = render_results(RESULTS, page_size=2)
    assert text_of(view, "jk-caption") == "1–2 of 3 problem rows"
    assert "HTTP 500 after 5 attempts" in view
    assert "name: must not be empty" in view
    assert ">k0<" not in view  # successful rows are counted, not listed
    last = render_results(RESULTS, page_size=2, page=99)  # clamped to the last page
    assert text_of(last, "jk-caption") == "3 of 3 problem rows"
    assert "<td>f</td>" in last
    clean = render_results(RESULTS.filter(pl.col("status") == "created"))
    assert text_of(clean, "jk-caption") == "no problem rows"


def test_problem_rows_keep_input_order() -> None:
    assert problem_rows(RESULTS).get_column("row").to_list() == [2, 3, 5]
    table = render_result_rows(problem_rows(RESULTS).to_dicts())
    assert table.index("<td>c</td>") < table.index("<td>d</td>") < table.index("<td>f</td>")
