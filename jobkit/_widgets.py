"""Notebook views: `preview` (rows as job cards) and `show_results` (what `index_frame` did).

Both are small `ipywidgets.VBox` subclasses that render HTML strings from `jobkit._render`
into `HTML` widgets, so they work in JupyterLab, Notebook 7, VS Code and Voila, and are
tested in plain Python (click a button, read `.value`). The package imports this module
lazily: `import jobkit` in a script never loads ipywidgets.

A preview holds the frame and renders one card at a time: moving to a row slices that row
(`frame.slice(i, 1)`), so 100k rows cost no more than 10 to browse. Search and the
"only invalid rows" filter are polars expressions over the whole frame, never Python loops.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

import ipywidgets as W
import polars as pl

from jobkit._render import (
    PROBLEM_STATUSES,
    render_job_card,
    render_result_rows,
    render_results_block,
    render_status_summary,
    status_counts,
)
from jobkit._schema import JOB_FIELD_RULES, JOB_POLARS_SCHEMA, Job

__all__ = ["JobPreview", "ResultsView", "preview", "show_results"]

# Fields held as JSON text in a frame (`skills.value`, `location.fields`, ...), split into
# (top-level field, nested key), read off the schema rather than listed by hand.
_JSON_TEXT_PATHS: Final = tuple(
    tuple(path.split(".", 1)) for path, rule in JOB_FIELD_RULES.items() if rule.json_text
)
_ERRORS_SCHEMA: Final = pl.Schema({"row": pl.Int64(), "field": pl.String(), "error": pl.String()})


def _decode(text: Any) -> Any:
    """JSON text from a frame cell back to its value; text that is not JSON stays as is."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        # `validate_frame` reports it; the card still shows what the cell holds.
        return text


def _job_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """One canonical frame row as a Job dict (JSON text decoded, nulls dropped)."""
    for field, key in _JSON_TEXT_PATHS:
        value = row.get(field)
        if isinstance(value, dict):
            value[key] = _decode(value.get(key))
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    item[key] = _decode(item.get(key))
    return {name: value for name, value in row.items() if value is not None}


def _as_frame(data: Any, conventions: Mapping[str, Any]) -> pl.DataFrame:
    """Any input `preview` accepts as a canonical polars frame."""
    if isinstance(data, pl.DataFrame) and data.schema == JOB_POLARS_SCHEMA and not conventions:
        return data  # already canonical: no copy, no conversion
    if isinstance(data, Job | Mapping):
        data = [data]
    if isinstance(data, Sequence) and not isinstance(data, str | bytes) and not conventions:
        from jobkit._convert import from_jobs

        return from_jobs(data)  # Job dicts, `jobkit.Job` objects or API responses
    from jobkit._frames import canonical_frame

    return canonical_frame(data, **conventions)


def _button(description: str, tooltip: str) -> W.Button:
    return W.Button(description=description, tooltip=tooltip, layout=W.Layout(width="42px"))


class JobPreview(W.VBox):  # type: ignore[misc]
    """Browse a canonical frame as job cards: previous/next, a slider, search, invalid rows.

    Build it with `jobkit.preview(data)`; `errors` is a `validate_frame` result (`row`,
    `field`, `error`). Rows are numbered from 0, as in the input.

    Examples
    --------
    >>> import polars as pl
    >>> from jobkit import JOB_POLARS_SCHEMA
    >>> frame = pl.DataFrame([{"name": "Data Engineer", "reference": "de-1"},
    ...                       {"name": "Analyst", "reference": "an-2"}],
    ...                      schema=JOB_POLARS_SCHEMA)
    >>> view = JobPreview(frame)
    >>> view.next_button.click()
    >>> view.row, "Analyst" in view.card.value
    (1, True)
    >>> view.search.value = "de-"
    >>> view.row, view.status.value
    (0, 'row 0 · 1 of 1 shown · valid')
    >>> view.close()
    """

    def __init__(self, frame: pl.DataFrame, errors: pl.DataFrame | None = None) -> None:
        self._frame = frame
        errors = errors if errors is not None else pl.DataFrame(schema=_ERRORS_SCHEMA)
        self._errors = errors.select(
            pl.col("row").cast(pl.Int64), pl.col("field"), pl.col("error")
        ).sort("row", maintain_order=True)
        self._invalid = self._errors.get_column("row").unique(maintain_order=True)
        self._haystack: pl.DataFrame | None = None
        # Row numbers currently browsable, ascending; None means every row (no allocation).
        self._view: pl.Series | None = None

        self.prev_button = _button("◀", "previous row")
        self.next_button = _button("▶", "next row")
        self.slider = W.IntSlider(
            value=0,
            min=0,
            max=max(frame.height - 1, 0),
            tooltip="row",
            readout=False,
            continuous_update=False,
            layout=W.Layout(width="320px"),
        )
        self.search = W.Text(
            placeholder="search reference or name",
            layout=W.Layout(width="240px"),
        )
        self.only_invalid = W.Checkbox(
            value=False,
            description=f"only invalid rows ({self._invalid.len():,})",
            indent=False,
            disabled=self._invalid.is_empty(),
        )
        self.status = W.Label()
        self.card = W.HTML()

        self.prev_button.on_click(lambda _: self._step(-1))
        self.next_button.on_click(lambda _: self._step(+1))
        self.slider.observe(self._on_slider, names="value")
        self.search.observe(self._on_filter, names="value")
        self.only_invalid.observe(self._on_filter, names="value")

        controls = W.HBox(
            [self.prev_button, self.slider, self.next_button, self.search, self.only_invalid],
            layout=W.Layout(flex_flow="row wrap", align_items="center"),
        )
        super().__init__([controls, self.status, self.card])
        self._refresh()

    # -- what is shown -------------------------------------------------------------------

    @property
    def n_rows(self) -> int:
        """Rows in the frame."""
        return int(self._frame.height)

    @property
    def n_invalid(self) -> int:
        """Rows with at least one validation error."""
        return int(self._invalid.len())

    @property
    def n_shown(self) -> int:
        """Rows left by the search and the invalid filter."""
        return self.n_rows if self._view is None else int(self._view.len())

    @property
    def row(self) -> int | None:
        """The input row number of the card on show (None when no row matches)."""
        if not self.n_shown:
            return None
        index = self.slider.value
        return index if self._view is None else int(self._view[index])

    def errors_of(self, row: int) -> list[tuple[str, str]]:
        """The (field, message) errors of one input row."""
        found = self._errors.filter(pl.col("row") == row)
        return list(zip(found.get_column("field"), found.get_column("error"), strict=True))

    def job(self, row: int) -> dict[str, Any]:
        """One input row as a Job dict: only that row is sliced and converted."""
        return _job_from_row(self._frame.slice(row, 1).to_dicts()[0])

    # -- events --------------------------------------------------------------------------

    def _step(self, delta: int) -> None:
        target = self.slider.value + delta
        if 0 <= target < self.n_shown:
            self.slider.value = target  # the observer renders

    def _on_slider(self, _change: Mapping[str, Any]) -> None:
        self._refresh()

    def _on_filter(self, _change: Mapping[str, Any]) -> None:
        current = self.row
        self._view = self._filtered()
        index = 0
        if current is not None and self._view is not None and self._view.len():
            # Stay on the same row when it survives the filter, else the next one after it.
            index = min(int(self._view.search_sorted(current)), int(self._view.len()) - 1)
        elif current is not None and self._view is None:
            index = current
        # Set max before value so that the slider never clamps the new value.
        self.slider.unobserve(self._on_slider, names="value")
        try:
            self.slider.max = max(self.n_shown - 1, 0)
            self.slider.value = index
        finally:
            self.slider.observe(self._on_slider, names="value")
        self._refresh()

    def _filtered(self) -> pl.Series | None:
        query = self.search.value.strip().lower()
        if not query and not self.only_invalid.value:
            return None
        if self._haystack is None:
            # Lower-cased once, so each keystroke is a single vectorised `contains`.
            self._haystack = self._frame.select(
                pl.col("reference").str.to_lowercase(), pl.col("name").str.to_lowercase()
            ).with_row_index("_row")
        conditions: list[pl.Expr] = []
        if query:
            conditions.append(
                pl.col("reference").str.contains(query, literal=True).fill_null(False)
                | pl.col("name").str.contains(query, literal=True).fill_null(False)
            )
        if self.only_invalid.value:
            conditions.append(pl.col("_row").is_in(self._invalid.implode()))
        return self._haystack.filter(*conditions).get_column("_row").cast(pl.Int64)

    def _refresh(self) -> None:
        shown = self.n_shown
        index = self.slider.value
        self.prev_button.disabled = index <= 0
        self.next_button.disabled = index >= shown - 1
        self.slider.disabled = shown <= 1
        row = self.row
        if row is None:
            self.status.value = "no rows match" if self.n_rows else "no rows"
            self.card.value = '<div class="jk-empty">no rows to show</div>'
            return
        errors = self.errors_of(row)
        verdict = f"{len(errors)} problem{'s' if len(errors) != 1 else ''}" if errors else "valid"
        self.status.value = f"row {row:,} · {index + 1:,} of {shown:,} shown · {verdict}"
        self.card.value = render_job_card(self.job(row), errors)

    # -- display -------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"JobPreview({self.n_rows:,} rows, {self.n_invalid:,} invalid)"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        # The widget view for live front ends, the current card for static ones, and a
        # short deterministic text (the default one nests every child widget's repr).
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        return {**bundle, "text/html": self.card.value, "text/plain": repr(self)}


def preview(data: Any, *, validate: bool = True, **conventions: Any) -> JobPreview:
    """Browse jobs as cards in a notebook, with each invalid row's errors beside its card.

    `data` is a polars or pandas DataFrame (canonical, flat dotted columns, ...), a
    LazyFrame, a file path, or a list of Job dicts / `jobkit.Job` objects; `conventions`
    (`columns=`, `tags=`, `ranges_float=`, ...) read it as `to_jobs` and `index_frame` do.
    The whole input is validated once, up front (`validate_frame`); only the card on show
    is rendered.

    Examples
    --------
    >>> import jobkit
    >>> view = jobkit.preview([{"name": "Data Engineer", "reference": "de-1"},
    ...                        {"name": "", "reference": "bad-1"}])
    >>> view
    JobPreview(2 rows, 1 invalid)
    >>> view.only_invalid.value = True
    >>> view.row, '<aside class="jk-errors">' in view.card.value
    (1, True)
    >>> view.close()
    """
    frame = _as_frame(data, conventions)
    errors = None
    if validate:
        from jobkit._validate import validate_frame

        errors = validate_frame(frame)
    return JobPreview(frame, errors)


# --- results of index_frame --------------------------------------------------------------

_ALL: Final = "all rows"
_PROBLEMS: Final = "problem rows"


class ResultsView(W.VBox):  # type: ignore[misc]
    """`index_frame` results at a glance: counts by status, then the rows to act on, paged.

    Build it with `jobkit.show_results(res)`; the results stay a plain polars frame.

    Examples
    --------
    >>> import polars as pl
    >>> res = pl.DataFrame({"row": [0, 1, 2], "reference": ["a", "b", "c"],
    ...                     "key": ["k1", None, None], "status": ["created", "failed", "invalid"],
    ...                     "http_status": [201, 500, None], "attempts": [1, 3, 0],
    ...                     "error": [None, "server error", "name: must not be empty"]})
    >>> view = ResultsView(res, page_size=1)
    >>> view
    ResultsView(3 rows: 1 created, 1 invalid, 1 failed)
    >>> view.page_label.value
    'page 1 of 2 · 2 problem rows'
    >>> view.next_button.click()
    >>> "name: must not be empty" in view.table.value
    True
    >>> view.close()
    """

    def __init__(self, results: pl.DataFrame, *, page_size: int = 20) -> None:
        if page_size < 1:
            msg = f"page_size must be at least 1, got {page_size}"
            raise ValueError(msg)
        self._results = results
        self._page_size = page_size
        self._counts = status_counts(results)
        present = [status for status, _ in self._counts]
        self.summary = W.HTML(render_results_block(render_status_summary(self._counts)))
        self.show = W.Dropdown(
            options=[_PROBLEMS, *present, _ALL],
            value=_PROBLEMS,
            description="show",
            layout=W.Layout(width="220px"),
        )
        self.prev_button = _button("◀", "previous page")
        self.next_button = _button("▶", "next page")
        self.page_label = W.Label()
        self.table = W.HTML()
        self._page = 0
        self._rows = self._select()

        self.prev_button.on_click(lambda _: self._turn(-1))
        self.next_button.on_click(lambda _: self._turn(+1))
        self.show.observe(self._on_show, names="value")
        controls = W.HBox(
            [self.show, self.prev_button, self.next_button, self.page_label],
            layout=W.Layout(align_items="center"),
        )
        super().__init__([self.summary, controls, self.table])
        self._refresh()

    @property
    def pages(self) -> int:
        """Pages of the rows selected by `show`."""
        return max(-(-self._rows.height // self._page_size), 1)

    @property
    def page(self) -> int:
        """The page on show, from 0."""
        return self._page

    def _select(self) -> pl.DataFrame:
        choice = self.show.value
        if choice == _ALL:
            return self._results
        statuses = list(PROBLEM_STATUSES) if choice == _PROBLEMS else [choice]
        return self._results.filter(pl.col("status").is_in(statuses))

    def _page_rows(self) -> pl.DataFrame:
        return self._rows.slice(self._page * self._page_size, self._page_size)

    def _turn(self, delta: int) -> None:
        target = self._page + delta
        if 0 <= target < self.pages:
            self._page = target
            self._refresh()

    def _on_show(self, _change: Mapping[str, Any]) -> None:
        self._rows = self._select()
        self._page = 0
        self._refresh()

    def _refresh(self) -> None:
        total = self._rows.height
        self.prev_button.disabled = self._page <= 0
        self.next_button.disabled = self._page >= self.pages - 1
        what = self.show.value
        noun = what if what in (_PROBLEMS, _ALL) else f"{what} rows"
        self.page_label.value = f"page {self._page + 1:,} of {self.pages:,} · {total:,} {noun}"
        shown = self._page_rows()
        self.table.value = render_results_block(render_result_rows(shown.to_dicts()))

    def __repr__(self) -> str:
        counts = ", ".join(f"{n:,} {status}" for status, n in self._counts)
        rows = self._results.height
        return f"ResultsView({rows:,} row{'' if rows == 1 else 's'}: {counts or 'empty'})"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        static = render_results_block(
            f"{render_status_summary(self._counts)}"
            f"{render_result_rows(self._page_rows().to_dicts())}"
        )
        return {**bundle, "text/html": static, "text/plain": repr(self)}


def show_results(results: pl.DataFrame, *, page_size: int = 20) -> ResultsView:
    """The view of an `index_frame` result: counts by status and the failed/invalid rows.

    Examples
    --------
    >>> import polars as pl
    >>> import jobkit
    >>> res = pl.DataFrame({"row": [0], "reference": ["a"], "key": ["k"], "status": ["created"],
    ...                     "http_status": [201], "attempts": [1], "error": [None]})
    >>> view = jobkit.show_results(res)
    >>> view
    ResultsView(1 row: 1 created)
    >>> view.close()
    """
    missing = [c for c in ("row", "reference", "status", "error") if c not in results.columns]
    if missing:
        msg = (
            f"show_results expects the frame returned by index_frame; it lacks the column(s) "
            f"{', '.join(missing)}"
        )
        raise ValueError(msg)
    return ResultsView(results, page_size=page_size)
