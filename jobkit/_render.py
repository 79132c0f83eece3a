"""Pure HTML for notebooks: a job card and the view of `index_frame` results.

Nothing here imports ipywidgets or touches a kernel: each function takes plain data and
returns a string, so the same markup serves `Job._repr_html_`, the preview widget, the
results view and static exports, and is unit-tested as text.

Every user string goes through `html.escape(..., quote=True)`, attribute values included;
a URL becomes a link only when its scheme is http or https. Output is deterministic (no
ids, no clock), because nbval compares stored `text/html` outputs.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from jobkit._engine import STATUSES

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "PROBLEM_STATUSES",
    "STATUS_ORDER",
    "problem_rows",
    "render_job_card",
    "render_result_rows",
    "render_results",
    "render_results_block",
    "render_status_summary",
    "status_counts",
]

# The order statuses are listed in everywhere: good outcomes first, then the problems.
STATUS_ORDER: Final = STATUSES
# Rows a user has to act on: they are not on the board as sent.
PROBLEM_STATUSES: Final = ("invalid", "duplicate", "rejected", "failed", "not_sent")

_STATUS_COLOURS: Final = {
    "created": "#2e7d32",
    "updated": "#1565c0",
    "exists": "#78909c",
    "valid": "#66bb6a",
    "invalid": "#ef6c00",
    "duplicate": "#f9a825",
    "rejected": "#ad1457",
    "failed": "#c62828",
    "not_sent": "#9e9e9e",
}
_UNKNOWN_COLOUR: Final = "#5d4037"

# The free-text fields that replace the deprecated `sections`, in the API's order.
_TEXT_FIELDS: Final = ("culture", "benefits", "responsibilities", "requirements", "interviews")
# Trait lists shown as chips, with their headings.
_CHIP_FIELDS: Final = (
    ("skills", "Skills"),
    ("languages", "Languages"),
    ("tasks", "Tasks"),
    ("courses", "Courses"),
    ("certifications", "Certifications"),
    ("interests", "Interests"),
    ("tags", "Tags"),
)
# A trait with one of these names is the employer (HrFlow has no company field).
_COMPANY_NAMES: Final = frozenset({"company", "employer", "organization", "organisation"})
# Long text starts folded so that a card stays a card.
_FOLD_AFTER: Final = 600

# Scoped to `jk-` classes and Jupyter's theme variables, so cards follow light/dark themes.
_CSS: Final = """<style>
.jk-card{font-family:var(--jp-content-font-family,system-ui,sans-serif);font-size:13px;
color:var(--jp-content-font-color1,#1f2328);background:var(--jp-layout-color0,#fff);
border:1px solid var(--jp-border-color1,#d0d7de);border-radius:8px;padding:12px 14px;
display:flex;gap:14px;align-items:flex-start;max-width:980px;box-sizing:border-box}
.jk-card.jk-invalid{border-color:#ef6c00}
.jk-main{flex:1 1 auto;min-width:0}
.jk-title{font-size:17px;font-weight:600;margin:0 0 2px}
.jk-sub{color:var(--jp-content-font-color2,#57606a);margin-bottom:4px}
.jk-ids{color:var(--jp-content-font-color3,#8c959f);font-family:var(--jp-code-font-family,monospace);
font-size:11px;margin-bottom:8px}
.jk-summary{margin:6px 0 8px;white-space:pre-wrap}
.jk-block{margin:6px 0}
.jk-block h4{font-size:12px;text-transform:uppercase;letter-spacing:.04em;margin:8px 0 3px;
color:var(--jp-content-font-color2,#57606a)}
.jk-block p{margin:0;white-space:pre-wrap}
.jk-block details summary{cursor:pointer;font-weight:600}
.jk-chips{display:flex;flex-wrap:wrap;gap:4px}
.jk-chip{display:inline-block;border-radius:10px;padding:1px 8px;font-size:12px;
background:var(--jp-layout-color2,#eef1f4);border:1px solid var(--jp-border-color2,#d8dee4)}
.jk-chip-value{margin-left:4px;color:var(--jp-content-font-color2,#57606a);
font-family:var(--jp-code-font-family,monospace);font-size:11px}
.jk-chip-hard{border-color:#90caf9}.jk-chip-soft{border-color:#a5d6a7}
.jk-ranges{margin:0;padding-left:18px}
.jk-url a{color:var(--jp-content-link-color,#0969da)}
.jk-meta{color:var(--jp-content-font-color3,#8c959f);font-size:11px;margin-top:8px}
.jk-errors{flex:0 0 260px;border:1px solid #ef6c00;border-radius:6px;padding:8px 10px;
background:rgba(239,108,0,.07)}
.jk-errors-title{font-weight:600;color:#e65100;margin-bottom:4px}
.jk-errors ul{margin:0;padding-left:16px;line-height:1.35}
.jk-errors li{margin:2px 0}
.jk-errors code,.jk-results code{font-size:11px}
.jk-results{font-family:var(--jp-content-font-family,system-ui,sans-serif);font-size:13px;
color:var(--jp-content-font-color1,#1f2328);max-width:980px}
.jk-bar{display:flex;height:14px;border-radius:4px;overflow:hidden;margin:4px 0 6px;
background:var(--jp-layout-color2,#eef1f4)}
.jk-bar span{display:block;height:100%}
.jk-legend{display:flex;flex-wrap:wrap;gap:10px;margin-bottom:6px}
.jk-swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;
vertical-align:middle}
.jk-table{border-collapse:collapse;width:100%}
.jk-table th,.jk-table td{text-align:left;padding:3px 8px;
border-bottom:1px solid var(--jp-border-color2,#d8dee4);vertical-align:top}
.jk-table td.jk-error{white-space:pre-wrap;word-break:break-word}
.jk-status{font-weight:600}
.jk-empty{color:var(--jp-content-font-color2,#57606a);font-style:italic}
</style>"""


def _e(value: object) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return html.escape(str(value), quote=True)


def _number(value: float) -> str:
    """`120000.0` -> `120,000`; `0.9` stays `0.9`."""
    if math.isfinite(value) and float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,}" if math.isfinite(value) else str(value)


def _json_value(value: Any) -> str:
    """A trait value as a reader expects it: `0.9`, `true`, `tag` (a string without quotes)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return _number(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _safe_href(url: str) -> str | None:
    """The URL if it is a plain http(s) link, else None (no `javascript:`, `data:` ...)."""
    candidate = url.strip()
    # Browsers ignore control characters and whitespace inside a scheme ("java\tscript:").
    if any(ord(ch) < 0x20 or ch.isspace() for ch in candidate):
        return None
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return candidate


def _items(value: Any) -> list[Mapping[str, Any]]:
    """The dict items of a list field (null and non-dict entries are skipped)."""
    if not isinstance(value, Sequence) or isinstance(value, str):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _text(value: Any) -> str | None:
    """A non-blank string field, else None."""
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


def _company(job: Mapping[str, Any]) -> str | None:
    for field in ("tags", "metadatas"):
        for trait in _items(job.get(field)):
            name = trait.get("name")
            if isinstance(name, str) and name.strip().lower() in _COMPANY_NAMES:
                value = trait.get("value")
                if value is not None and not isinstance(value, bool):
                    return _json_value(value)
    return None


def _chip(trait: Mapping[str, Any]) -> str:
    name = trait.get("name")
    value = trait.get("value")
    kind = trait.get("type")
    cls = "jk-chip"
    if kind in ("hard", "soft"):
        cls += f" jk-chip-{kind}"
    shown = "" if value is None else f'<span class="jk-chip-value">{_e(_json_value(value))}</span>'
    title = f' title="{_e(kind)} skill"' if kind in ("hard", "soft") else ""
    return f'<span class="{cls}"{title}>{_e("" if name is None else name)}{shown}</span>'


def _block(heading: str, body: str) -> str:
    return f'<div class="jk-block"><h4>{_e(heading)}</h4>{body}</div>'


def _folded(heading: str, text: str) -> str:
    """A text field; long ones start folded so that the card stays scannable."""
    opened = " open" if len(text) <= _FOLD_AFTER else ""
    return (
        f'<div class="jk-block"><details{opened}><summary>{_e(heading)}</summary>'
        f"<p>{_e(text)}</p></details></div>"
    )


def _range_float(item: Mapping[str, Any]) -> str:
    low, high = item.get("value_min"), item.get("value_max")
    unit = _text(item.get("unit"))
    if isinstance(low, int | float) and isinstance(high, int | float):
        span = f"{_number(low)} – {_number(high)}"
    elif isinstance(low, int | float):
        span = f"≥ {_number(low)}"
    elif isinstance(high, int | float):
        span = f"≤ {_number(high)}"
    else:
        span = "not given"
    suffix = f" {_e(unit)}" if unit else ""
    return f"<li><b>{_e(item.get('name') or '')}</b>: {_e(span)}{suffix}</li>"


def _range_date(item: Mapping[str, Any]) -> str:
    low, high = _text(item.get("value_min")), _text(item.get("value_max"))
    span = f"{low or '…'} → {high or '…'}"
    return f"<li><b>{_e(item.get('name') or '')}</b>: {_e(span)}</li>"


def _errors_panel(errors: Sequence[tuple[str, str]]) -> str:
    count = len(errors)
    items = "".join(
        f"<li><code>{_e(field)}</code>: {_e(message)}</li>" for field, message in errors
    )
    noun = "problem" if count == 1 else "problems"
    return (
        f'<aside class="jk-errors"><div class="jk-errors-title">{count} {noun}</div>'
        f"<ul>{items}</ul></aside>"
    )


def render_job_card(job: Mapping[str, Any], errors: Sequence[tuple[str, str]] | None = None) -> str:
    """One job as an HTML card, with its validation errors (field, message) beside it.

    `job` is a Job dict as the API sends it (trait values are real JSON: `0.9`, `true`,
    `"tag"`); missing or null fields are left out of the card.

    Examples
    --------
    >>> card = render_job_card({"name": "Data <Engineer>", "reference": "de-1",
    ...                         "skills": [{"name": "spark", "value": 0.9}]})
    >>> "Data &lt;Engineer&gt;" in card and 'class="jk-chip-value">0.9<' in card
    True
    >>> '<aside class="jk-errors">' in render_job_card({"name": "x"}, errors=[("name", "empty")])
    True
    """
    name = _text(job.get("name"))
    title = _e(name) if name else '<span class="jk-empty">(no name)</span>'
    location = job.get("location")
    place = _text(location.get("text")) if isinstance(location, Mapping) else None
    sub = " · ".join(_e(part) for part in (_company(job), place) if part)

    ids = []
    for label in ("reference", "key"):
        value = _text(job.get(label))
        if value:
            ids.append(f"{label} {_e(value)}")

    body: list[str] = [f'<div class="jk-title">{title}</div>']
    if sub:
        body.append(f'<div class="jk-sub">{sub}</div>')
    if ids:
        body.append(f'<div class="jk-ids">{" · ".join(ids)}</div>')

    summary = _text(job.get("summary"))
    if summary:
        body.append(f'<p class="jk-summary">{_e(summary)}</p>')

    for section in _items(job.get("sections")):
        heading = _text(section.get("title")) or _text(section.get("name")) or "Section"
        text = _text(section.get("description"))
        body.append(_folded(heading, text) if text else _block(heading, ""))

    for field in _TEXT_FIELDS:
        text = _text(job.get(field))
        if text:
            body.append(_folded(field.capitalize(), text))

    for field, heading in _CHIP_FIELDS:
        traits = _items(job.get(field))
        if traits:
            chips = "".join(_chip(trait) for trait in traits)
            body.append(_block(heading, f'<div class="jk-chips">{chips}</div>'))

    ranges = [_range_float(item) for item in _items(job.get("ranges_float"))]
    ranges += [_range_date(item) for item in _items(job.get("ranges_date"))]
    if ranges:
        body.append(_block("Ranges", f'<ul class="jk-ranges">{"".join(ranges)}</ul>'))

    metadatas = _items(job.get("metadatas"))
    if metadatas:
        chips = "".join(_chip(trait) for trait in metadatas)
        body.append(_block("Metadata", f'<div class="jk-chips">{chips}</div>'))

    url = _text(job.get("url"))
    if url:
        href = _safe_href(url)
        link = (
            f'<a href="{_e(href)}" target="_blank" rel="noopener noreferrer">{_e(url)}</a>'
            if href
            else f"<code>{_e(url)}</code>"
        )
        body.append(f'<div class="jk-url">{link}</div>')

    dates = [
        f"{label} {_e(value)}"
        for label in ("created_at", "updated_at", "archived_at")
        if (value := _text(job.get(label)))
    ]
    if dates:
        body.append(f'<div class="jk-meta">{" · ".join(dates)}</div>')

    classes = "jk-card jk-invalid" if errors else "jk-card"
    aside = _errors_panel(errors) if errors else ""
    return f'{_CSS}<div class="{classes}"><div class="jk-main">{"".join(body)}</div>{aside}</div>'


# --- results of index_frame --------------------------------------------------------------


def _colour(status: object) -> str:
    # A fixed palette: the colour never comes from user data, so it needs no escaping.
    return _STATUS_COLOURS.get(str(status), _UNKNOWN_COLOUR)


def status_counts(results: pl.DataFrame) -> list[tuple[str, int]]:
    """How many rows ended in each status, in `STATUS_ORDER` (unknown statuses last).

    Examples
    --------
    >>> import polars as pl
    >>> status_counts(pl.DataFrame({"status": ["failed", "created", "created"]}))
    [('created', 2), ('failed', 1)]
    """
    counts = results.get_column("status").fill_null("unknown").value_counts()
    found = dict(zip(counts.get_column("status"), counts.get_column("count"), strict=True))
    ordered = [(status, int(found.pop(status))) for status in STATUS_ORDER if status in found]
    return ordered + sorted((str(status), int(n)) for status, n in found.items())


def render_status_summary(counts: Iterable[tuple[str, int]]) -> str:
    """A stacked bar of the status counts with a legend (`jk-bar`, `jk-legend`).

    Examples
    --------
    >>> html = render_status_summary([("created", 3), ("failed", 1)])
    >>> 'style="width:75.00%;background:#2e7d32"' in html and "failed" in html
    True
    """
    counts = [(status, n) for status, n in counts if n > 0]
    total = sum(n for _, n in counts)
    if not total:
        return '<div class="jk-empty">no rows</div>'
    bar = "".join(
        f'<span title="{_e(status)}: {n:,}" '
        f'style="width:{100 * n / total:.2f}%;background:{_colour(status)}"></span>'
        for status, n in counts
    )
    legend = "".join(
        f'<span><span class="jk-swatch" style="background:{_colour(status)}"></span>'
        f'<span class="jk-status">{_e(status)}</span> {n:,}</span>'
        for status, n in counts
    )
    return (
        f'<div class="jk-summary-line">{total:,} rows</div>'
        f'<div class="jk-bar">{bar}</div><div class="jk-legend">{legend}</div>'
    )


_RESULT_COLUMNS: Final = ("row", "reference", "status", "http_status", "attempts", "error")


def render_result_rows(rows: Sequence[Mapping[str, Any]]) -> str:
    """A table of result rows (row, reference, status, HTTP status, attempts, error).

    Examples
    --------
    >>> table = render_result_rows([{"row": 4, "reference": "r<4>", "status": "failed",
    ...                              "http_status": 500, "attempts": 3, "error": "boom"}])
    >>> "r&lt;4&gt;" in table and "<td>500</td>" in table
    True
    """
    if not rows:
        return '<div class="jk-empty">no rows to show</div>'
    head = "".join(f"<th>{_e(column)}</th>" for column in _RESULT_COLUMNS)
    lines = []
    for row in rows:
        cells = []
        for column in _RESULT_COLUMNS:
            value = row.get(column)
            text = "" if value is None else _e(value)
            if column == "status":
                cells.append(f'<td class="jk-status" style="color:{_colour(value)}">{text}</td>')
            elif column == "error":
                cells.append(f'<td class="jk-error">{text}</td>')
            else:
                cells.append(f"<td>{text}</td>")
        lines.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<table class="jk-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(lines)}</tbody></table>"
    )


def problem_rows(results: pl.DataFrame, statuses: Sequence[str] = PROBLEM_STATUSES) -> pl.DataFrame:
    """The rows of `results` whose status is one of `statuses`, in input order."""
    import polars as pl

    return results.filter(pl.col("status").is_in(list(statuses)))


def render_results_block(inner: str) -> str:
    """Wrap results markup (a summary, a table) with the `jk-` styles, for a widget or a page.

    Examples
    --------
    >>> render_results_block("<b>3 rows</b>").endswith('class="jk-results"><b>3 rows</b></div>')
    True
    """
    return f'{_CSS}<div class="jk-results">{inner}</div>'


def render_results(
    results: pl.DataFrame,
    *,
    statuses: Sequence[str] = PROBLEM_STATUSES,
    page: int = 0,
    page_size: int = 20,
) -> str:
    """The static view of `index_frame` results: counts by status, then a page of problem rows.

    Examples
    --------
    >>> import polars as pl
    >>> res = pl.DataFrame({"row": [0, 1], "reference": ["a", "b"], "key": ["k", None],
    ...                     "status": ["created", "failed"], "http_status": [201, 500],
    ...                     "attempts": [1, 3], "error": [None, "server error"]})
    >>> view = render_results(res)
    >>> "1 of 1 problem rows" in view and "server error" in view
    True
    """
    problems = problem_rows(results, statuses)
    total = problems.height
    pages = max(math.ceil(total / page_size), 1)
    page = min(max(page, 0), pages - 1)
    shown = problems.slice(page * page_size, page_size)
    if total:
        first = page * page_size + 1
        caption = f"{first}–{first + shown.height - 1} of {total:,} problem rows"
        if shown.height == 1:
            caption = f"{first} of {total:,} problem rows"
    else:
        caption = "no problem rows"
    return render_results_block(
        f"{render_status_summary(status_counts(results))}"
        f'<div class="jk-caption">{_e(caption)}</div>{render_result_rows(shown.to_dicts())}'
    )
