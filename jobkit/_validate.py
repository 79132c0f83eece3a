"""`validate_frame`: every problem of every row, judged by the rules of the Job schema.

The rules are not restated here: they are read off `JOB_FIELD_RULES` (required fields,
minimum lengths, ISO 8601 patterns, numeric bounds, choices), the constraints pydantic checks
on one `Job`, and turned into polars expressions over the whole frame. Lists of parts are
exploded with their index, so a problem is reported as `skills[2].type`. Two rules span
fields or rows and are added here: a range's `value_min <= value_max`, and `reference`
unique within the frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson
import polars as pl

from jobkit._frames import _JSON_STRUCT_FIELDS, Extra, RangeSpec, TraitSpec, canonical_frame
from jobkit._schema import JOB_FIELD_RULES, JOB_POLARS_SCHEMA, FieldRule

__all__ = ["ERRORS_SCHEMA", "validate_frame"]

ERRORS_SCHEMA: Final = pl.Schema({"row": pl.Int64(), "field": pl.String(), "error": pl.String()})

_ISO_EXAMPLE: Final = "e.g. 2024-05-18 or 2024-05-18T21:59Z"


def _shown(value: pl.Expr) -> pl.Expr:
    """A value quoted for a message, cut to a readable length."""
    text = value.cast(pl.String)
    cut = pl.when(text.str.len_chars() > 40).then(text.str.slice(0, 40) + "…").otherwise(text)
    return pl.concat_str([pl.lit("'"), cut, pl.lit("'")])


def _checks(value: pl.Expr, rule: FieldRule, where: str) -> list[tuple[pl.Expr, pl.Expr]]:
    """(failing-row condition, message) pairs for one field; `where` names the column."""
    out: list[tuple[pl.Expr, pl.Expr]] = []
    name = rule.path.rsplit(".", 1)[-1]
    if rule.required:
        out.append((value.is_null(), pl.lit(f"{name} is required: fill it in {where}")))
    if rule.min_length is not None:
        out.append(
            (
                value.str.len_chars() < rule.min_length,
                pl.lit(f"{name} is empty: give a non-empty {name} in {where}"),
            )
        )
    if rule.pattern is not None:
        out.append(
            (
                ~value.str.contains(rule.pattern),
                pl.concat_str(
                    [
                        _shown(value),
                        pl.lit(f" is not ISO 8601: write {_ISO_EXAMPLE} in {where}"),
                    ]
                ),
            )
        )
    if rule.ge is not None or rule.le is not None:
        lo = float("-inf") if rule.ge is None else rule.ge
        hi = float("inf") if rule.le is None else rule.le
        out.append(
            (
                value.is_nan() | (value < lo) | (value > hi),
                pl.concat_str(
                    [
                        _shown(value),
                        pl.lit(
                            f" is outside [{lo:g}, {hi:g}]: correct it or set it to null in {where}"
                        ),
                    ]
                ),
            )
        )
    if rule.choices is not None:
        choices = ", ".join(repr(c) for c in rule.choices)
        out.append(
            (
                ~value.is_in(list(rule.choices)),
                pl.concat_str(
                    [
                        _shown(value),
                        pl.lit(f" is not one of {choices}: use one of them or null in {where}"),
                    ]
                ),
            )
        )
    return out


def _problems(
    lf: pl.LazyFrame, checks: list[tuple[pl.Expr, pl.Expr]], field: pl.Expr
) -> list[pl.LazyFrame]:
    return [
        lf.filter(cond.fill_null(False)).select(
            pl.col("row"), field.alias("field"), message.alias("error")
        )
        for cond, message in checks
    ]


def validate_frame(
    df: Any,
    *,
    columns: Mapping[str, str] | None = None,
    tags: TraitSpec | None = None,
    metadatas: TraitSpec | None = None,
    ranges_float: RangeSpec | None = None,
    ranges_date: RangeSpec | None = None,
    extra: Extra = "raise",
) -> pl.DataFrame:
    """One row per problem: `row` (0-based), `field` (dotted, `skills[2].type`), `error`.

    `df` is anything `to_jobs` accepts, with the same conventions. An empty frame (with that
    schema) means every row is a valid Job. Input that cannot be read as jobs at all (say, a
    `skills` column of integers) raises `FrameError` naming the column instead.

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({
    ...     "name": ["Data Engineer", ""],
    ...     "reference": ["de-1", "de-1"],
    ...     "location.lat": [48.85, 123.0],
    ...     "created_at": ["2024-05-18T21:59:00Z", "18/05/2024"],
    ... })
    >>> errors = validate_frame(df)
    >>> errors.select("row", "field").rows()
    [(1, 'reference'), (1, 'name'), (1, 'created_at'), (1, 'location.lat')]
    >>> for message in errors["error"]:
    ...     print(message)
    'de-1' is already the reference of row 0: give each job its own reference (column 'reference')
    name is empty: give a non-empty name in column 'name'
    '18/05/2024' is not ISO 8601: write e.g. 2024-05-18 or 2024-05-18T21:59Z in column 'created_at'
    '123.0' is outside [-90, 90]: correct it or set it to null in column 'location.lat'
    >>> validate_frame(df.head(1)).shape
    (0, 3)
    """
    frame = canonical_frame(
        df,
        columns=columns,
        tags=tags,
        metadatas=metadatas,
        ranges_float=ranges_float,
        ranges_date=ranges_date,
        extra=extra,
    )
    lf = frame.lazy().with_row_index("row").with_columns(pl.col("row").cast(pl.Int64))
    found: list[pl.LazyFrame] = []
    order: dict[str, int] = {}

    for column, dtype in JOB_POLARS_SCHEMA.items():
        order[column] = len(order)
        rules = {p: r for p, r in JOB_FIELD_RULES.items() if p.split(".")[0] == column}
        if isinstance(dtype, pl.List):
            found += _list_problems(lf, column, dtype, rules)
            continue
        for path, rule in rules.items():
            parts = path.split(".")
            value = pl.col(column)
            if len(parts) == 2:
                # A struct's field is checked only where the struct itself is set.
                value = pl.when(pl.col(column).is_not_null()).then(value.struct.field(parts[1]))
                if rule.required:  # pragma: no cover - no required struct field today
                    value = value.fill_null(pl.lit(None))
            found += _problems(lf, _checks(value, rule, f"column '{path}'"), pl.lit(path))

    found += _duplicate_references(lf)
    found += _range_order(lf)
    result = pl.concat(pl.collect_all(found)) if found else pl.DataFrame(schema=ERRORS_SCHEMA)
    result = _json_text_problems(frame, result)
    # Report by row, then in the schema's column order, so a row's problems read top-down.
    rank = pl.col("field").str.extract(r"^([a-z_]+)").replace_strict(order, default=len(order))
    return result.sort(["row", rank], maintain_order=True).cast(ERRORS_SCHEMA)


def _list_problems(
    lf: pl.LazyFrame, column: str, dtype: pl.List, rules: dict[str, FieldRule]
) -> list[pl.LazyFrame]:
    inner = dtype.inner
    assert isinstance(inner, pl.Struct)
    items = (
        lf.select("row", pl.col(column).alias("part"))
        .filter(pl.col("part").list.len() > 0)
        .with_columns(i=pl.int_ranges(pl.col("part").list.len()))
        .explode(["part", "i"])
    )
    where = f"column '{column}'"
    at = pl.format("{}[{}]", pl.lit(column), pl.col("i"))
    found = _problems(
        items,
        [
            (
                pl.col("part").is_null(),
                pl.lit(
                    f"the part is null: remove it or give a dict of "
                    f"{[f.name for f in inner.fields]} in {where}"
                ),
            )
        ],
        at,
    )
    for path, rule in rules.items():
        sub = path.split(".")[1:]
        if len(sub) != 1:
            continue
        value = pl.when(pl.col("part").is_not_null()).then(pl.col("part").struct.field(sub[0]))
        checks = _checks(value, rule, where)
        if rule.required:
            # `is_null()` above already covers a null part: only its field is reported here.
            checks[0] = (pl.col("part").is_not_null() & value.is_null(), checks[0][1])
        found += _problems(items, checks, pl.format("{}.{}", at, pl.lit(sub[0])))
    return found


def _duplicate_references(lf: pl.LazyFrame) -> list[pl.LazyFrame]:
    ref = pl.col("reference")
    dup = (
        lf.select("row", ref)
        .filter(ref.is_not_null())
        .with_columns(first=pl.col("row").min().over("reference"))
        .filter(pl.col("row") != pl.col("first"))
        .select(
            "row",
            pl.lit("reference").alias("field"),
            pl.format(
                "{} is already the reference of row {}: give each job its own reference "
                "(column 'reference')",
                _shown(ref),
                pl.col("first"),
            ).alias("error"),
        )
    )
    return [dup]


def _range_order(lf: pl.LazyFrame) -> list[pl.LazyFrame]:
    items = (
        lf.select("row", pl.col("ranges_float").alias("part"))
        .filter(pl.col("part").list.len() > 0)
        .with_columns(i=pl.int_ranges(pl.col("part").list.len()))
        .explode(["part", "i"])
        .unnest("part")
    )
    return [
        items.filter(pl.col("value_min") > pl.col("value_max")).select(
            "row",
            pl.format("ranges_float[{}].value_min", pl.col("i")).alias("field"),
            pl.format(
                "value_min {} is greater than value_max {}: swap them in column 'ranges_float'",
                pl.col("value_min"),
                pl.col("value_max"),
            ).alias("error"),
        )
    ]


def _json_text_problems(frame: pl.DataFrame, result: pl.DataFrame) -> pl.DataFrame:
    """`location.fields` must hold a JSON object or array.

    Such values are rare and free-form, so the few set ones are parsed one by one.
    """
    extra: list[tuple[int, str, str]] = []
    for column, field in _JSON_STRUCT_FIELDS.items():
        texts = frame.select(
            pl.int_range(pl.len(), dtype=pl.Int64).alias("row"),
            pl.col(column).struct.field(field).alias("t"),
        ).filter(pl.col("t").is_not_null())
        for row, text in texts.iter_rows():
            try:
                ok = isinstance(orjson.loads(text), dict | list)
            except orjson.JSONDecodeError:
                ok = False
            if not ok:
                path = f"{column}.{field}"
                extra.append(
                    (
                        row,
                        path,
                        f"{path} is not a JSON object or array: give JSON text such as "
                        f'{{"city": "Paris"}}, or null, in column \'{path}\'',
                    )
                )
    if not extra:
        return result
    more = pl.DataFrame(extra, schema=ERRORS_SCHEMA, orient="row")
    return pl.concat([result, more])
