"""Frames: every input jobkit accepts, turned into the canonical polars frame.

The canonical frame has exactly `JOB_POLARS_SCHEMA` (column order included). Values whose
JSON type varies from row to row (a trait `value`, `location.fields`) are JSON text in String
columns: `0.9`, `true`, `"tag"` (with its quotes), `{...}`; JSON null is a polars null.

Accepted inputs: a polars DataFrame or LazyFrame, a pandas DataFrame, a list of Job dicts, or
a path to parquet, CSV or NDJSON (Job JSON lines). On the way in, these conventions apply:

* canonical columns are taken as they are;
* dotted flat columns (`location.text`, `board.key`: the `pandas.json_normalize` style that
  `from_jobs(..., flatten=True)` produces) nest back into their struct;
* a trait list (`skills`, `languages`, `tags`, ...) given as a list of strings becomes
  `[{name, value: null}]`;
* `columns=` renames messy headers: `{"title": "name", "description": "summary"}`;
* `tags=` / `metadatas=` gather wide columns into traits named after the column (a list of
  column names) or after the mapping's keys (`{"trait name": "column"}`); the value keeps the
  column's JSON type (Boolean -> `true`, numbers -> numbers, strings -> JSON strings) and a
  null cell adds no trait;
* `ranges_float=` / `ranges_date=` gather bound columns into a range:
  `{"salary": ("salary_min", "salary_max", "currency")}`. The unit is a column name when the
  frame has that column, otherwise a literal unit (`"usd"`); a `pl.Expr` is taken as given.
  A row whose bounds are both null adds no range;
* a trait `value` given as a String is JSON text when it is a JSON scalar (`0.9`, `true`,
  `null`, `"Acme"` with quotes) and a plain string otherwise (`Acme` -> `"Acme"`). So a
  hand-built `{"name": "company", "value": "Acme"}` just works; to send the *string* `"true"`,
  quote it (`'"true"'`) or use `tags=` on a String column. Boolean and numeric values are
  encoded natively;
* a column jobkit does not know is an error (`FrameError` naming it), not silently dropped,
  unless `extra="ignore"`.

Examples
--------
>>> import polars as pl
>>> raw = pl.DataFrame({
...     "title": ["Data Engineer"],
...     "location.text": ["Paris"],
...     "skills": [["python", "sql"]],
...     "company": ["Acme"],
...     "remote": [True],
...     "salary_min": [40000], "salary_max": [50000],
... })
>>> df = canonical_frame(raw, columns={"title": "name"}, tags=["company", "remote"],
...                      ranges_float={"salary": ("salary_min", "salary_max", "eur")})
>>> df.schema == JOB_POLARS_SCHEMA
True
>>> row = df.row(0, named=True)
>>> row["name"], row["location"]["text"], [s["name"] for s in row["skills"]]
('Data Engineer', 'Paris', ['python', 'sql'])
>>> row["tags"]
[{'name': 'company', 'value': '"Acme"'}, {'name': 'remote', 'value': 'true'}]
>>> row["ranges_float"]
[{'name': 'salary', 'value_min': 40000.0, 'value_max': 50000.0, 'unit': 'eur'}]
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

import orjson
import polars as pl
from pydantic import BaseModel

from jobkit._exceptions import FrameError, UnsupportedFrameError
from jobkit._schema import JOB_FIELD_RULES, JOB_POLARS_SCHEMA

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

__all__ = [
    "TRAIT_COLUMNS",
    "TYPE_MISMATCH",
    "Extra",
    "RangeSpec",
    "TraitSpec",
    "TypeSuspects",
    "canonical_frame",
    "decode_job_objects",
    "iter_frames",
    "json_text",
]

Extra: TypeAlias = Literal["raise", "ignore"]
DType: TypeAlias = "PolarsDataType"
# A range's bounds (and, for ranges_float, its unit): column names, literals or expressions.
RangeSpec: TypeAlias = Mapping[str, Sequence["str | pl.Expr | None"]]
TraitSpec: TypeAlias = "Sequence[str] | Mapping[str, str]"

# Derived from the schema: list columns whose parts carry a JSON-typed `value`, and struct
# columns with a JSON-text field (`location.fields`).
TRAIT_COLUMNS: Final = tuple(
    path.removesuffix(".value")
    for path, rule in JOB_FIELD_RULES.items()
    if rule.json_text and path.endswith(".value")
)
_JSON_STRUCT_FIELDS: Final = {
    path.split(".")[0]: path.split(".")[1]
    for path, rule in JOB_FIELD_RULES.items()
    if rule.json_text and path.count(".") == 1 and not path.endswith(".value")
}

# A whole-string JSON scalar: what a String `value` must look like to be taken as JSON text.
_JSON_SCALAR: Final = (
    r"^(?:true|false|null|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
    r'|"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*")$'
)

_PATH_SUFFIXES: Final = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
}


# --- JSON text <-> polars values ------------------------------------------------------------


def json_text(expr: pl.Expr) -> pl.Expr:
    """JSON text of each value of `expr`, typed by its dtype (null stays null).

    Examples
    --------
    >>> df = pl.DataFrame({"b": [True, None], "f": [0.5, 1.0], "s": ['say "hi"', "x"]})
    >>> df.select(json_text(pl.col(c)).alias(c) for c in df.columns).rows()
    [('true', '0.5', '"say \\\\"hi\\\\""'), (None, '1.0', '"x"')]
    """
    # polars' JSON encoder is the one that writes `write_ndjson`: wrap, encode, unwrap.
    text = pl.struct(expr.alias("v")).struct.json_encode().str.slice(5).str.strip_suffix("}")
    return pl.when(text == "null").then(None).otherwise(text)


def _value_text(expr: pl.Expr, dtype: DType, path: str) -> pl.Expr:
    """A trait `value` of any dtype -> JSON text (the String rule is in the module docstring)."""
    if dtype == pl.Null:
        return pl.lit(None, pl.String)
    if dtype == pl.String:
        is_scalar = expr.str.contains(_JSON_SCALAR)
        return (
            pl.when(expr == "null").then(None).when(is_scalar).then(expr).otherwise(json_text(expr))
        )
    if dtype.is_numeric() or dtype == pl.Boolean:
        return json_text(expr)
    where = f"{path}.value"
    raise _frame_error(
        where,
        f"a value of dtype {dtype} is not a JSON scalar",
        "use null, a bool, a number or a string",
    )


def _string_rule(text: pl.Expr) -> pl.Expr:
    """JSON text of a value that was a string -> the String rule's reading of that string."""
    content = text.str.json_decode(pl.String)
    return (
        pl.when(text.str.starts_with('"') & content.str.contains(_JSON_SCALAR))
        .then(pl.when(content != "null").then(content))
        .otherwise(text)
    )


def _untag_value(v: pl.Expr) -> pl.Expr:
    """Tagged value text (see `decode_job_objects`) -> JSON text.

    A string arrives as `"` + its content, any other scalar as its literal JSON text.
    """
    body = v.str.slice(1)
    quoted = json_text(body)
    return (
        pl.when(~v.str.starts_with('"'))
        .then(v)
        # Most strings need no escaping: close the quote instead of re-encoding them.
        .when(body.str.contains(r'["\\\x00-\x1f]'))
        .then(quoted)
        .otherwise(v + '"')
    )


# A trait `value` is the only place where a JSON key named "value" holds a scalar of any type.
# Outside strings a bare `"value":` is always a key (inside a string, quotes are escaped), so
# these rewrites cannot touch user text. Strings get a leading `"` inside, other scalars are
# quoted: polars then reads every value as a String and loses nothing (`1.0` stays `1.0`).
_TAG_STRING: Final = ('"value":"', '"value":"\\"')
_TAG_LITERAL: Final = (r'"value":(-?[0-9][0-9.eE+-]*|true|false)', r'"value":"${1}"')
_TAG_STRING_WS: Final = (r'("value"\s*:\s*)"', r'${1}"\"')
_TAG_LITERAL_WS: Final = (r'("value"\s*:\s*)(-?[0-9][0-9.eE+-]*|true|false)', r'${1}"${2}"')


def _tag_values(texts: pl.Expr, *, compact: bool) -> pl.Expr:
    if compact:  # orjson's output: no whitespace, so a literal replace is enough for strings
        return texts.str.replace_all(*_TAG_STRING, literal=True).str.replace_all(*_TAG_LITERAL)
    return texts.str.replace_all(*_TAG_STRING_WS).str.replace_all(*_TAG_LITERAL_WS)


def _finish_decoded(lf: pl.LazyFrame, schema: Mapping[str, pl.DataType]) -> pl.LazyFrame:
    exprs = []
    for name in schema:
        if name in TRAIT_COLUMNS:
            value = _untag_value(pl.element().struct.field("value")).alias("value")
            exprs.append(pl.col(name).list.eval(pl.element().struct.with_fields(value)))
    return lf.with_columns(exprs) if exprs else lf


def _keys_by_dtype() -> dict[str, set[str]]:
    """Every key of the Job (at any depth) -> the names of the dtypes it has."""
    seen: dict[str, set[str]] = {}

    def walk(fields: Mapping[str, PolarsDataType], prefix: str) -> None:
        for name, dtype in fields.items():
            rule = JOB_FIELD_RULES.get(f"{prefix}{name}")
            if isinstance(dtype, pl.List):
                dtype = dtype.inner
            if isinstance(dtype, pl.Struct):
                walk({f.name: f.dtype for f in dtype.fields}, f"{prefix}{name}.")
                seen.setdefault(name, set()).add("object")
            else:
                kind = "json" if rule is not None and rule.json_text else str(dtype)
                seen.setdefault(name, set()).add(kind)

    walk(dict(JOB_POLARS_SCHEMA), "")
    return seen


def _type_mismatch_pattern() -> str:
    """A regex for a scalar of the wrong JSON type in a Job's text, integer or float field.

    polars' decoder would quietly coerce these (`"name": 123` -> "123", `"id": 1.5` -> 1,
    `"lat": true` -> 1.0), where pydantic rejects them: they must be errors, not data.
    """
    keys = _keys_by_dtype()
    text = sorted(k for k, kinds in keys.items() if kinds == {"String"})
    numbers = sorted(
        k
        for k, kinds in keys.items()
        if kinds <= {"Int64", "Float64", "String"} and kinds & {"Int64", "Float64"}
    )
    ints = sorted(k for k, kinds in keys.items() if kinds == {"Int64"})
    key = r'"(?:{})"\s*:\s*'
    return "|".join(
        [
            key.format("|".join(text)) + r"(?:-?[0-9]|true|false)",
            key.format("|".join(numbers)) + r"(?:true|false)",
            key.format("|".join(ints)) + r"-?[0-9]+[.eE]",
        ]
    )


TYPE_MISMATCH: Final = _type_mismatch_pattern()


class TypeSuspects(Exception):
    """Pieces whose text matches `TYPE_MISMATCH` (located and reported by the caller)."""

    def __init__(self, pieces: list[int]) -> None:
        super().__init__(pieces)
        self.pieces = pieces


def decode_job_objects(
    texts: Sequence[bytes] | pl.Series,
    *,
    arrays: bool,
    compact: bool,
    schema: Mapping[str, pl.DataType] = JOB_POLARS_SCHEMA,
    check_types: bool = True,
) -> pl.DataFrame:
    """Parse JSON job objects into a frame of `schema`, losslessly.

    `texts` holds JSON arrays of objects (`arrays=True`) or one object each. Pieces are decoded
    in parallel on polars' thread pool. `location.fields` must already be JSON text (a string):
    polars cannot read an object into a String field. With `check_types`, a piece holding a
    scalar of the wrong type for its key (`TYPE_MISMATCH`) raises `TypeSuspects` naming the
    pieces (for a Series of lines: the lines), so the caller can name the row and field.

    Examples
    --------
    >>> decode_job_objects([b'[{"name":"a","tags":[{"name":"t","value":1.0}]}]'],
    ...                    arrays=True, compact=True)["tags"].to_list()
    [[{'name': 't', 'value': '1.0'}]]
    """
    struct = pl.Struct(dict(schema))
    dtype = pl.List(struct) if arrays else struct
    pieces = [texts] if isinstance(texts, pl.Series) else [pl.Series("j", [t]) for t in texts]
    frames = []
    checks = []
    for piece in pieces:
        text = piece.alias("j").to_frame().lazy().select(pl.col("j").cast(pl.String))
        lf = text.select(_tag_values(pl.col("j"), compact=compact).str.json_decode(dtype))
        if arrays:
            lf = lf.explode("j")
        frames.append(_finish_decoded(lf.unnest("j"), schema))
        if check_types:
            checks.append(text.select(pl.col("j").str.contains(TYPE_MISMATCH).arg_true()))
    if not frames:
        return pl.DataFrame(schema=schema)
    done = pl.collect_all(frames + checks)
    if check_types:
        if isinstance(texts, pl.Series):
            suspects = done[-1]["j"].to_list()
        else:
            suspects = [i for i, found in enumerate(done[len(frames) :]) if found.height]
        if suspects:
            raise TypeSuspects(suspects)
    return pl.concat(done[: len(frames)], rechunk=False)


# --- input normalisation --------------------------------------------------------------------


def _is_pandas(data: object) -> bool:
    return type(data).__module__.split(".")[0] == "pandas" and hasattr(data, "columns")


def _frame_error(column: str, problem: str, fix: str) -> FrameError:
    return FrameError(f"column {column!r}: {problem}; {fix}")


def _coerce(expr: pl.Expr, src: DType, dst: DType, path: str, extra: Extra) -> pl.Expr:
    """An expression turning `expr` (dtype `src`) into the canonical dtype `dst`."""
    if src == dst and not _has_trait_values(path):
        return expr
    if src == pl.Null:
        return expr.cast(dst)
    if isinstance(dst, pl.Struct):
        if not isinstance(src, pl.Struct):
            raise _frame_error(
                path,
                f"expected a struct of {[f.name for f in dst.fields]}, got {src}",
                f"give {path!r} as dicts, or as dotted columns ('{path}.{dst.fields[0].name}')",
            )
        return _coerce_struct(expr, src, dst, path, extra)
    if isinstance(dst, pl.List):
        return _coerce_list(expr, src, dst, path, extra)
    if dst == pl.String:
        if src in (pl.Categorical, pl.Enum) or isinstance(src, pl.Enum | pl.Categorical):
            return expr.cast(pl.String)
        if src.is_numeric() or src == pl.Boolean:
            return expr.cast(pl.String)
        if isinstance(src, pl.Datetime):
            fmt = "%Y-%m-%dT%H:%M:%S%.f" + ("%:z" if src.time_zone else "")
            return expr.dt.to_string(fmt)
        if src == pl.Date:
            return expr.dt.to_string("%Y-%m-%d")
        raise _frame_error(path, f"expected text, got {src}", "cast it to String (pl.Utf8)")
    if dst.is_numeric():
        if src.is_numeric() or src == pl.String:
            return expr.cast(dst, strict=True)
        raise _frame_error(path, f"expected a number, got {src}", f"cast it to {dst}")
    return expr.cast(dst)  # pragma: no cover - the schema has no other dtypes


def _has_trait_values(path: str) -> bool:
    return path in TRAIT_COLUMNS


def _coerce_struct(
    expr: pl.Expr, src: pl.Struct, dst: pl.Struct, path: str, extra: Extra
) -> pl.Expr:
    have = {f.name: f.dtype for f in src.fields}
    want = {f.name: f.dtype for f in dst.fields}
    unknown = [n for n in have if n not in want]
    if unknown and extra == "raise":
        raise _frame_error(
            path,
            f"unknown field(s) {unknown} (known: {list(want)})",
            "rename or drop them, or pass extra='ignore'",
        )
    json_field = _JSON_STRUCT_FIELDS.get(path)
    fields = []
    for name, dtype in want.items():
        if name not in have:
            fields.append(pl.lit(None, dtype).alias(name))
        elif name == "value" and path.split("[")[0] in TRAIT_COLUMNS:
            fields.append(_value_text(expr.struct.field(name), have[name], path).alias(name))
        elif name == json_field and have[name] != pl.String:
            where = f"{path}.{name}"
            raise _frame_error(
                where,
                f"expected JSON text, got {have[name]}",
                "hold it as a JSON string (e.g. json.dumps of the object)",
            )
        else:
            fields.append(
                _coerce(expr.struct.field(name), have[name], dtype, f"{path}.{name}", extra).alias(
                    name
                )
            )
    return pl.when(expr.is_null()).then(None).otherwise(pl.struct(fields))


def _coerce_list(expr: pl.Expr, src: DType, dst: pl.List, path: str, extra: Extra) -> pl.Expr:
    inner = dst.inner
    assert isinstance(inner, pl.Struct)
    if not isinstance(src, pl.List | pl.Array):
        raise _frame_error(
            path,
            f"expected a list of {[f.name for f in inner.fields]} parts, got {src}",
            "give a list of dicts per row"
            + (" (or a list of names)" if path in TRAIT_COLUMNS else ""),
        )
    item = src.inner
    if isinstance(src, pl.Array):
        expr = expr.arr.to_list()
    if item == pl.Null:
        return expr.cast(dst)
    if item == pl.String or isinstance(item, pl.Categorical | pl.Enum):
        if path not in TRAIT_COLUMNS:
            raise _frame_error(
                path,
                "expected a list of parts, got a list of strings",
                "give a list of dicts per row",
            )
        fields = [
            (pl.element().cast(pl.String) if f.name == "name" else pl.lit(None, f.dtype)).alias(
                f.name
            )
            for f in inner.fields
        ]
        return expr.list.eval(pl.struct(fields))
    if not isinstance(item, pl.Struct):
        raise _frame_error(
            path,
            f"expected a list of {[f.name for f in inner.fields]} parts, got {src}",
            "give a list of dicts per row"
            + (" or a list of names" if path in TRAIT_COLUMNS else ""),
        )
    return expr.list.eval(_coerce_struct(pl.element(), item, inner, path, extra))


def _range_expr(
    name: str, spec: Sequence[str | pl.Expr | None], columns: Sequence[str], *, unit: bool
) -> tuple[pl.Expr, pl.Expr, set[str]]:
    """A range struct (null when both bounds are null) and the columns it consumed."""
    size = 3 if unit else 2
    if not 2 <= len(spec) <= size:
        shape = "(min, max[, unit])" if unit else "(min, max)"
        msg = f"range {name!r}: expected {shape}, got {spec!r}"
        raise FrameError(msg)
    used: set[str] = set()

    def operand(item: str | pl.Expr | None, *, literal_ok: bool) -> pl.Expr:
        if item is None:
            return pl.lit(None)
        if isinstance(item, pl.Expr):
            return item
        if item in columns:
            used.add(item)
            return pl.col(item)
        if literal_ok:
            return pl.lit(item, pl.String)
        msg = f"range {name!r}: no column {item!r} in the frame (columns: {list(columns)})"
        raise FrameError(msg)

    lo = operand(spec[0], literal_ok=False)
    hi = operand(spec[1], literal_ok=False)
    fields = [pl.lit(name, pl.String).alias("name"), lo.alias("value_min"), hi.alias("value_max")]
    if unit:
        fields.append(operand(spec[2] if len(spec) > 2 else None, literal_ok=True).alias("unit"))
    present = lo.is_not_null() | hi.is_not_null()
    return pl.struct(fields), present, used


def _normalise(
    lf: pl.LazyFrame,
    *,
    columns: Mapping[str, str] | None,
    tags: TraitSpec | None,
    metadatas: TraitSpec | None,
    ranges_float: RangeSpec | None,
    ranges_date: RangeSpec | None,
    extra: Extra,
) -> pl.LazyFrame:
    schema = lf.collect_schema()
    names = list(schema)
    if columns:
        missing = [old for old in columns if old not in schema]
        if missing:
            msg = f"columns= renames {missing}, which the frame does not have (it has {names})"
            raise FrameError(msg)
        lf = lf.rename(dict(columns))
        schema = lf.collect_schema()
        names = list(schema)
    consumed: set[str] = set()
    gathered: dict[str, list[tuple[pl.Expr, pl.Expr]]] = {}

    for target, traits in (("tags", tags), ("metadatas", metadatas)):
        if traits is None:
            continue
        pairs = list(traits.items()) if isinstance(traits, Mapping) else [(c, c) for c in traits]
        for trait, col in pairs:
            if col not in schema:
                msg = f"{target}= names column {col!r}, which the frame does not have ({names})"
                raise FrameError(msg)
            if schema[col].is_nested():
                raise _frame_error(
                    col,
                    f"{target}= needs scalar columns, got {schema[col]}",
                    "give a bool, number or string column",
                )
            # Unlike a hand-built `value`, a wide String column is always a JSON string.
            value = json_text(pl.col(col))
            item = pl.struct(pl.lit(trait, pl.String).alias("name"), value.alias("value"))
            gathered.setdefault(target, []).append((item, pl.col(col).is_not_null()))
            consumed.add(col)
    for target, ranges, unit in (
        ("ranges_float", ranges_float, True),
        ("ranges_date", ranges_date, False),
    ):
        for range_name, spec in (ranges or {}).items():
            item, present, used = _range_expr(range_name, spec, names, unit=unit)
            gathered.setdefault(target, []).append((item, present))
            consumed |= used

    # Dotted columns (`location.text`) nest back into their struct.
    dotted: dict[str, list[str]] = {}
    for name in names:
        head, dot, _ = name.partition(".")
        if dot and head in JOB_POLARS_SCHEMA and isinstance(JOB_POLARS_SCHEMA[head], pl.Struct):
            dotted.setdefault(head, []).append(name)
    for head, parts in dotted.items():
        if head in schema:
            msg = f"both {head!r} and dotted columns {parts} are given: keep one of them"
            raise FrameError(msg)
        consumed |= set(parts)

    unknown = [n for n in names if n not in JOB_POLARS_SCHEMA and n not in consumed]
    if unknown and extra == "raise":
        msg = (
            f"unknown column(s) {unknown}: rename them with columns={{'old': 'new'}}, gather "
            "them with tags=[...] / metadatas=[...] / ranges_float={...}, or pass "
            "extra='ignore' to drop them"
        )
        raise FrameError(msg)

    out: list[pl.Expr] = []
    for name, dtype in JOB_POLARS_SCHEMA.items():
        if name in dotted:
            subs = {c.split(".", 1)[1]: c for c in dotted[name]}
            src = pl.Struct({sub: schema[c] for sub, c in subs.items()})
            packed = pl.struct([pl.col(c).alias(sub) for sub, c in subs.items()])
            # A row whose dotted columns are all null has no struct at all.
            any_set = pl.any_horizontal([pl.col(c).is_not_null() for c in subs.values()])
            expr = pl.when(any_set).then(packed).otherwise(None)
            out.append(_coerce(expr, src, dtype, name, extra).alias(name))
        elif name in schema:
            out.append(_coerce(pl.col(name), schema[name], dtype, name, extra).alias(name))
        else:
            out.append(pl.lit(None, dtype).alias(name))
        if name in gathered:
            items = gathered[name]
            new = pl.concat_list([pl.when(p).then(i).otherwise(None) for i, p in items])
            new = new.list.drop_nulls().cast(dtype)
            base = out.pop()
            # Gathered parts follow the ones already in the column; a row with none keeps null.
            merged = pl.when(base.is_null() & (new.list.len() == 0)).then(None)
            out.append(
                merged.otherwise(pl.concat_list(base.fill_null(pl.lit([], dtype)), new)).alias(name)
            )
    # with_columns, not select: a null column must have the frame's height even when no input
    # column is kept (select would broadcast literals to one row).
    return lf.with_columns(out).select(JOB_POLARS_SCHEMA.names())


def _jobs_frame(jobs: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    from jobkit._convert import from_jobs

    return from_jobs(jobs)


def _np_default(obj: Any) -> Any:
    # numpy arrays (pandas' nested cells after `to_pandas()`), pandas NA / NaT.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if type(obj).__name__ in ("NAType", "NaTType"):
        return None
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    raise TypeError


def _from_pandas(pdf: Any, columns: Mapping[str, str] | None) -> pl.DataFrame:
    """pandas -> polars, converted once; nested cells keep their JSON types."""
    from jobkit._convert import _python_jobs_to_frame

    rename = dict(columns or {})
    plain = [c for c in pdf.columns if pdf[c].dtype != object]
    frame = pl.from_pandas(pdf[plain]) if plain else pl.DataFrame(height=len(pdf))
    cols: dict[str, pl.Series] = {c: frame[c] for c in frame.columns}
    for col in pdf.columns:
        if col in cols:
            continue
        if not isinstance(col, str):
            msg = f"pandas column names must be strings, got {col!r}"
            raise FrameError(msg)
        target = rename.get(col, col)
        dtype = JOB_POLARS_SCHEMA.get(target)
        values = pdf[col].tolist()
        if isinstance(dtype, pl.List | pl.Struct):
            # pl.from_pandas would go through pyarrow, which rejects mixed value types:
            # encode the cells with orjson and decode them like jobs.
            records = [_fields_as_text({target: v}) for v in values]
            part = _python_jobs_to_frame(records, schema={target: dtype})
            if target in TRAIT_COLUMNS:
                # A Python str value follows the String rule, as in a polars frame.
                value = _string_rule(pl.element().struct.field("value")).alias("value")
                part = part.select(pl.col(target).list.eval(pl.element().struct.with_fields(value)))
            cols[col] = part[target].alias(col)
        else:
            try:
                cols[col] = pl.from_pandas(pdf[[col]])[col]
            except Exception as exc:
                raise _frame_error(
                    col,
                    f"pandas object column cannot be read ({type(exc).__name__}: {exc})",
                    "give it one type (e.g. .astype(str))",
                ) from None
    return pl.DataFrame([cols[c] for c in pdf.columns])


def _read_path(path: Path) -> tuple[str, Path]:
    kind = _PATH_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        msg = f"{str(path)!r}: unknown file type; give a .parquet, .csv, .ndjson or .jsonl file"
        raise UnsupportedFrameError(msg)
    if not path.exists():
        msg = f"{str(path)!r}: no such file"
        raise FrameError(msg)
    return kind, path


_Conventions: TypeAlias = dict[str, Any]


def canonical_frame(
    data: Any,
    *,
    columns: Mapping[str, str] | None = None,
    tags: TraitSpec | None = None,
    metadatas: TraitSpec | None = None,
    ranges_float: RangeSpec | None = None,
    ranges_date: RangeSpec | None = None,
    extra: Extra = "raise",
) -> pl.DataFrame:
    """Any accepted input -> the canonical frame (`JOB_POLARS_SCHEMA`, in order).

    The conventions are described in this module's docstring.

    Examples
    --------
    >>> import polars as pl
    >>> df = canonical_frame(pl.DataFrame({"name": ["QA"], "board.key": ["b1"]}))
    >>> df["board"].struct.field("key").to_list(), df["name"].to_list()
    (['b1'], ['QA'])
    >>> canonical_frame(pl.DataFrame({"name": ["QA"], "remote": [True]}))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    jobkit.FrameError: unknown column(s) ['remote']: rename them with columns={'old': 'new'}, ...
    >>> kept = canonical_frame(pl.DataFrame({"name": ["QA"], "remote": [True]}), extra="ignore")
    >>> kept.columns == list(JOB_POLARS_SCHEMA)
    True
    """
    conventions: _Conventions = {
        "columns": columns,
        "tags": tags,
        "metadatas": metadatas,
        "ranges_float": ranges_float,
        "ranges_date": ranges_date,
        "extra": extra,
    }
    if isinstance(data, str | os.PathLike):
        frames = list(iter_frames(data, chunk_size=1 << 62, **conventions))
        if not frames:
            return pl.DataFrame(schema=JOB_POLARS_SCHEMA)
        return pl.concat(frames) if len(frames) > 1 else frames[0]
    return _collect(_lazy(data, columns), conventions)


def _lazy(data: Any, columns: Mapping[str, str] | None) -> pl.LazyFrame:
    if isinstance(data, pl.LazyFrame):
        return data
    if isinstance(data, pl.DataFrame):
        return data.lazy()
    if _is_pandas(data):
        return _from_pandas(data, columns).lazy()
    if isinstance(data, list | tuple) and all(isinstance(j, Mapping) for j in data):
        return _jobs_frame(data).lazy()
    msg = (
        f"cannot read {type(data).__name__} as jobs: give a polars DataFrame or LazyFrame, a "
        "pandas DataFrame, a list of Job dicts, or a path to .parquet, .csv or .ndjson"
    )
    raise UnsupportedFrameError(msg)


def _collect(lf: pl.LazyFrame, conventions: _Conventions) -> pl.DataFrame:
    normalised = _normalise(lf, **conventions)
    try:
        return normalised.collect()
    except pl.exceptions.InvalidOperationError as exc:
        # A strict cast failed (e.g. `location.lat` holding "north"): name the column.
        raise FrameError(_cast_message(str(exc))) from None
    except pl.exceptions.PolarsError as exc:
        msg = f"the frame cannot be read as jobs: {exc}"
        raise FrameError(msg) from None


def _cast_message(error: str) -> str:
    first = error.strip().splitlines()[0] if error.strip() else error
    return (
        f"a column holds values that do not fit the Job schema ({first}); fix or cast that column"
    )


def iter_frames(
    source: Any,
    *,
    chunk_size: int,
    **conventions: Any,
) -> Iterator[pl.DataFrame]:
    """Canonical frames of at most `chunk_size` rows, streamed from `source`.

    Memory is bounded by the chunk: a LazyFrame is collected batch by batch, parquet is read
    with pyarrow's `iter_batches`, CSV through polars' streaming engine and NDJSON (Job JSON
    lines) in line chunks, decoded like `from_jobs` so values keep their JSON types.

    Examples
    --------
    >>> import polars as pl
    >>> lf = pl.LazyFrame({"name": [f"job {i}" for i in range(5)]})
    >>> [len(f) for f in iter_frames(lf, chunk_size=2)]
    [2, 2, 1]
    """
    if chunk_size < 1:
        msg = f"chunk_size must be at least 1, got {chunk_size}"
        raise ValueError(msg)
    conv: _Conventions = {
        "columns": None,
        "tags": None,
        "metadatas": None,
        "ranges_float": None,
        "ranges_date": None,
        "extra": "raise",
    }
    unknown = set(conventions) - set(conv)
    if unknown:
        msg = f"unknown convention(s) {sorted(unknown)}; known: {sorted(conv)}"
        raise TypeError(msg)
    conv.update(conventions)
    if isinstance(source, str | os.PathLike):
        kind, path = _read_path(Path(source))
        if kind == "ndjson":
            if any(
                conv[k] for k in ("columns", "tags", "metadatas", "ranges_float", "ranges_date")
            ):
                msg = (
                    f"{str(path)!r} holds Job JSON lines, to which columns=/tags=/ranges_*= do "
                    "not apply; for other JSON lines, read them with pl.read_ndjson first"
                )
                raise FrameError(msg)
            yield from _iter_ndjson(path, chunk_size)
            return
        if kind == "parquet":
            yield from _iter_parquet(path, chunk_size, conv)
            return
        yield from _iter_lazy(_scan_csv(path, conv["columns"]), chunk_size, conv)
        return
    if isinstance(source, pl.LazyFrame):
        yield from _iter_lazy(source, chunk_size, conv)
        return
    if isinstance(source, pl.DataFrame):
        for offset in range(0, source.height, chunk_size):
            yield _collect(source.slice(offset, chunk_size).lazy(), conv)
        return
    frame = _lazy(source, conv["columns"]).collect()
    for offset in range(0, frame.height, chunk_size):
        yield _collect(frame.slice(offset, chunk_size).lazy(), conv)


def _scan_csv(path: Path, columns: Mapping[str, str] | None) -> pl.LazyFrame:
    """CSV with the Job's text fields read as text: inference would turn `00123` into 123."""
    rename = dict(columns or {})
    overrides: dict[str, PolarsDataType] = {}
    for header in pl.scan_csv(path, infer_schema_length=0).collect_schema():
        target = rename.get(header, header)
        head, _, sub = target.partition(".")
        dtype: PolarsDataType | None = JOB_POLARS_SCHEMA.get(head)
        if sub and isinstance(dtype, pl.Struct):
            dtype = {f.name: f.dtype for f in dtype.fields}.get(sub)
        if dtype == pl.String:
            overrides[header] = pl.String
    return pl.scan_csv(path, infer_schema_length=10_000, schema_overrides=overrides)


def _rechunk(batches: Iterable[pl.DataFrame], size: int) -> Iterator[pl.DataFrame]:
    """Exactly `size` rows per frame (the last may be shorter), whatever the batches are."""
    pending: list[pl.DataFrame] = []
    held = 0
    for batch in batches:
        while batch.height:
            take = min(size - held, batch.height)
            pending.append(batch.slice(0, take))
            held += take
            batch = batch.slice(take)
            if held == size:
                yield pl.concat(pending)
                pending, held = [], 0
    if held:
        yield pl.concat(pending)


def _iter_lazy(lf: pl.LazyFrame, chunk_size: int, conv: _Conventions) -> Iterator[pl.DataFrame]:
    # Normalising lazily first fails fast on a bad schema, before any row is read.
    _normalise(lf.head(0), **conv)
    batches = lf.collect_batches(chunk_size=min(chunk_size, 1 << 20), lazy=True)
    for chunk in _rechunk(batches, chunk_size):
        yield _collect(chunk.lazy(), conv)


def _iter_parquet(path: Path, chunk_size: int, conv: _Conventions) -> Iterator[pl.DataFrame]:
    import pyarrow.parquet as pq

    # No pre-buffering: by default pyarrow reads ahead and keeps buffers across row groups,
    # which grows memory with the file rather than with the chunk.
    reader = pq.ParquetFile(path, pre_buffer=False)
    batch_size = min(chunk_size, 1 << 20)

    def frames() -> Iterator[pl.DataFrame]:
        for batch in reader.iter_batches(batch_size=batch_size):
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            yield frame

    empty = True
    for chunk in _rechunk(frames(), chunk_size):
        empty = False
        yield _collect(chunk.lazy(), conv)
    if empty:
        pl_schema = pl.from_arrow(reader.schema_arrow.empty_table())
        assert isinstance(pl_schema, pl.DataFrame)
        _collect(pl_schema.lazy(), conv)


def _iter_ndjson(path: Path, chunk_size: int) -> Iterator[pl.DataFrame]:
    with path.open("rb") as fh:
        lines: list[bytes] = []
        for line in fh:
            if line.strip():
                lines.append(line)
            if len(lines) == chunk_size:
                yield _decode_lines(lines, path)
                lines = []
        if lines:
            yield _decode_lines(lines, path)


def _fields_as_text(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of one job whose JSON-text struct fields (`location.fields`) are JSON text."""
    for col, field in _JSON_STRUCT_FIELDS.items():
        part = obj.get(col)
        if isinstance(part, Mapping) and part.get(field) is not None:
            obj = {**obj, col: {**part, field: orjson.dumps(part[field]).decode()}}
    return obj


def _decode_lines(lines: list[bytes], path: Path) -> pl.DataFrame:
    series = pl.Series("j", lines, dtype=pl.Binary).cast(pl.String, strict=False)
    # An object or array in `location.fields` cannot be read into a String field: those rare
    # lines are re-encoded in Python with the object as JSON text.
    pattern = "|".join(rf'"{f}"\s*:\s*[\[{{]' for f in _JSON_STRUCT_FIELDS.values())
    rare = series.str.contains(pattern).arg_true().to_list() if pattern else []
    if rare:
        fixed = [orjson.dumps(_fields_as_text(orjson.loads(lines[i]))).decode() for i in rare]
        series = series.scatter(rare, fixed)
    from jobkit._convert import _python_jobs_to_frame, raise_type_mismatch

    try:
        return decode_job_objects(series, arrays=False, compact=False)
    except TypeSuspects as suspects:
        raise_type_mismatch(
            ((i, orjson.loads(lines[i])) for i in suspects.pieces), JOB_POLARS_SCHEMA
        )
        return decode_job_objects(series, arrays=False, compact=False, check_types=False)
    except pl.exceptions.PolarsError:
        pass
    # Find the first bad line to name it (only on the error path).

    for i, line in enumerate(lines):
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            msg = f"{str(path)!r} row {i} of this chunk is not valid JSON ({exc}); fix that line"
            raise FrameError(msg) from None
        if not isinstance(obj, dict):
            msg = f"{str(path)!r} row {i} of this chunk is not a JSON object; fix that line"
            raise FrameError(msg)
        _python_jobs_to_frame([obj])
    msg = f"{str(path)!r}: the lines cannot be read as jobs"  # pragma: no cover
    raise FrameError(msg)  # pragma: no cover
