"""Lossless conversion between frames and Job JSON: `from_jobs`, `to_jobs`, `to_json_rows`.

Both directions are vectorised. `from_jobs` lets pyarrow read the plain columns (and trait
columns whose values are all strings) straight from the dicts, while polars decodes the
JSON-typed rest from orjson text in which every trait value is tagged so that its exact JSON
text survives (`1.0` stays `1.0`, `"true"` stays a string). `to_json_rows` assembles each row's
document from polars' own JSON encoder, splicing the JSON-text values in raw; `to_jobs` parses
those documents with one `orjson.loads`. Measured by `bench/convert.py`.

Round trip: `from_jobs(to_jobs(df))` equals the canonical `df`, and `to_jobs(from_jobs(jobs))`
equals `Job.model_validate(j).model_dump(mode="json")` for each job: null stays distinct from
`[]`, a value keeps its JSON type (`true`, `1`, `1.0`, `"true"`), floats keep their digits and
date strings come back as sent.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final

import orjson
import polars as pl
import pyarrow as pa
from pydantic import BaseModel

from jobkit._exceptions import FrameError
from jobkit._frames import (
    _JSON_STRUCT_FIELDS,
    TRAIT_COLUMNS,
    TYPE_MISMATCH,
    Extra,
    RangeSpec,
    TraitSpec,
    TypeSuspects,
    _fields_as_text,
    _finish_decoded,
    _np_default,
    _tag_values,
    canonical_frame,
    decode_job_objects,
    json_text,
)
from jobkit._schema import JOB_POLARS_SCHEMA, SERVER_FIELDS

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

__all__ = ["flatten_frame", "from_jobs", "to_jobs", "to_json_rows"]

# Pieces decoded in parallel: enough to use the thread pool, not so many that overhead shows.
_MIN_PIECE = 5_000


def _unwrap(jobs: Iterable[Any] | Mapping[str, Any]) -> list[dict[str, Any]]:
    """Job dicts out of jobs, Job models and API envelopes; `location.fields` as JSON text."""
    if isinstance(jobs, Mapping):
        jobs = [jobs]
    out: list[dict[str, Any]] = []
    append = out.append
    # One cheap pass in Python is unavoidable here: the input *is* Python objects, and
    # envelopes and objects in `location.fields` must be recognised before encoding.
    for row, item in enumerate(jobs):
        if type(item) is not dict:
            if isinstance(item, BaseModel):
                item = item.model_dump(mode="json")
            elif isinstance(item, Mapping):
                item = dict(item)
            else:
                msg = f"row {row}: expected a Job dict, got {type(item).__name__}"
                raise FrameError(msg)
        if "code" in item and "data" in item:  # an API response: {"code", "message", "data"}
            out.extend(_unwrap_response(item["data"], row))
            continue
        loc = item.get("location")
        if (
            loc
            and (type(loc) is dict or isinstance(loc, Mapping))
            and loc.get("fields") is not None
        ):
            item = _fields_as_text(item)
        append(item)
    return out


def _unwrap_response(data: Any, row: int) -> list[dict[str, Any]]:
    if isinstance(data, Mapping) and isinstance(data.get("jobs"), list):
        return _unwrap(data["jobs"])
    if isinstance(data, list):
        return _unwrap(data)
    if isinstance(data, Mapping):
        return _unwrap([data])
    msg = f"row {row}: the API response holds no job (data={data!r})"
    raise FrameError(msg)


def _dumps(records: Any) -> bytes:
    return orjson.dumps(records, default=_np_default)


# Columns always read from JSON text: their numbers must keep their JSON type (pyarrow would
# read `"lat": true` as 1.0 and `"id": 1.5` as 1, where `TYPE_MISMATCH` catches both).
_JSON_ROUTE: Final = tuple(
    c
    for c, d in JOB_POLARS_SCHEMA.items()
    if c in _JSON_STRUCT_FIELDS
    or d.is_numeric()
    or (isinstance(d, pl.List) and c not in TRAIT_COLUMNS and c != "sections")
)
# Plain text columns, `board` and `sections`: pyarrow reads them straight from the dicts and
# rejects a wrong type by itself.
_ARROW_ROUTE: Final = tuple(
    c for c in JOB_POLARS_SCHEMA if c not in _JSON_ROUTE and c not in TRAIT_COLUMNS
)
_ARROW_TYPES: dict[str, pa.DataType] = {}  # built on first use


def _arrow_type(column: str) -> pa.DataType:
    if not _ARROW_TYPES:
        empty = pl.DataFrame(schema=JOB_POLARS_SCHEMA).to_arrow().schema
        _ARROW_TYPES.update({f.name: f.type for f in empty})
    return _ARROW_TYPES[column]


def _json_query(column: str, values: list[Any]) -> pl.LazyFrame:
    """One column's values as a tagged JSON array, decoded exactly, with a type check."""
    dtype = JOB_POLARS_SCHEMA[column]
    text = pl.LazyFrame({"j": [_dumps(values)]}, schema={"j": pl.Binary}).select(
        pl.col("j").cast(pl.String)
    )
    decoded = text.select(
        _tag_values(pl.col("j"), compact=True).str.json_decode(pl.List(dtype)).alias(column),
        _column_mismatch(pl.col("j"), dtype).alias("bad"),
    )
    return _finish_decoded(decoded.explode(column), {column: dtype})


def _jobs_to_frame(records: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Job dicts (unwrapped) -> the canonical frame, by the fastest exact route.

    pyarrow reads the plain columns from the dicts, and a trait column whose values are all
    strings (the common case) with `value` as text; polars decodes the rest from JSON (one
    small tagged array per column) on its thread pool meanwhile. Any error takes the single
    JSON route, which names the row and field.
    """
    if not records:
        return pl.DataFrame(schema=JOB_POLARS_SCHEMA)
    try:
        with ThreadPoolExecutor(1) as pool:
            queries = [_json_query(c, [r.get(c) for r in records]) for c in _JSON_ROUTE]
            json_part = pool.submit(pl.collect_all, queries)
            columns = _arrow_columns(records)
            late = [c for c in TRAIT_COLUMNS if c not in columns]
            if late:
                queries = [_json_query(c, [r.get(c) for r in records]) for c in late]
                decoded = pl.collect_all(queries)
            else:
                decoded = []
            decoded += json_part.result()
    except (TypeError, pa.ArrowException, UnicodeError, pl.exceptions.PolarsError):
        return _python_jobs_to_frame(records)
    if any(part["bad"][0] for part in decoded):
        return _python_jobs_to_frame(records)
    columns.update({part.columns[0]: part.to_series(0) for part in decoded})
    return pl.DataFrame([columns[c] for c in JOB_POLARS_SCHEMA])


def _arrow_columns(records: Sequence[Mapping[str, Any]]) -> dict[str, pl.Series]:
    """The columns pyarrow can read exactly; a trait column with a non-string value is left out."""
    plain = pa.Table.from_pylist(
        records, schema=pa.schema([(c, _arrow_type(c)) for c in _ARROW_ROUTE])
    )
    frame = pl.from_arrow(plain)
    assert isinstance(frame, pl.DataFrame)
    columns = {c: frame[c] for c in _ARROW_ROUTE}
    for column in TRAIT_COLUMNS:
        values = [r.get(column) for r in records]
        try:
            # The value field is String here: pyarrow accepts only str (or None) for it.
            array = pa.array(values, type=_arrow_type(column))
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            continue
        series = pl.Series(column, array)
        as_json = json_text(pl.element().struct.field("value")).alias("value")
        columns[column] = series.list.eval(pl.element().struct.with_fields(as_json))
    return columns


def _column_mismatch(text: pl.Expr, dtype: PolarsDataType) -> pl.Expr:
    """Whether one column's JSON array holds a scalar of the wrong type (see TYPE_MISMATCH)."""
    if dtype == pl.Int64:
        return text.str.contains(r"[0-9][.eE]|true|false")
    if dtype == pl.Float64:  # pragma: no cover - no top-level float column today
        return text.str.contains(r"true|false")
    return text.str.contains(TYPE_MISMATCH)


def _python_jobs_to_frame(
    records: Sequence[Mapping[str, Any]],
    *,
    schema: Mapping[str, pl.DataType] = JOB_POLARS_SCHEMA,
) -> pl.DataFrame:
    """Decode Job dicts (already unwrapped) into a frame of `schema`; errors name row + field."""
    pieces = max(1, min(pl.thread_pool_size(), len(records) // _MIN_PIECE))
    step = max(1, -(-len(records) // pieces))
    try:
        blobs = [_dumps(records[i : i + step]) for i in range(0, len(records), step)]
    except TypeError:
        _raise_for_first_bad(records, schema)
        raise  # pragma: no cover - _raise_for_first_bad always raises
    try:
        return decode_job_objects(blobs, arrays=True, compact=True, schema=schema)
    except TypeSuspects as suspects:
        rows = (
            (i, records[i])
            for piece in suspects.pieces
            for i in range(piece * step, min((piece + 1) * step, len(records)))
        )
        raise_type_mismatch(rows, schema)
    except pl.exceptions.PolarsError:
        _raise_for_first_bad(records, schema)
        raise  # pragma: no cover
    # The suspicious text was in keys the schema does not know (dropped anyway).
    return decode_job_objects(blobs, arrays=True, compact=True, schema=schema, check_types=False)


_MISMATCH_BYTES = re.compile(TYPE_MISMATCH.encode())


def raise_type_mismatch(
    rows: Iterable[tuple[int, Mapping[str, Any]]], schema: Mapping[str, pl.DataType]
) -> None:
    """Raise for the first row whose known field holds a scalar of the wrong JSON type."""
    for row, record in rows:
        for key, value in record.items():
            if key in schema and _MISMATCH_BYTES.search(_dumps({key: value})):
                msg = (
                    f"row {row}, field {key!r}: {value!r:.80} holds a value of the wrong JSON "
                    "type (a number or boolean where text is expected, a boolean where a "
                    "number is, or a fraction for an integer); convert it at the source "
                    "(e.g. str(...)) rather than let it be coerced"
                )
                raise FrameError(msg)


def _decodes(records: Sequence[Any], schema: Mapping[str, pl.DataType]) -> str | None:
    """None when `records` decode, else the error (used only to locate a bad row)."""
    try:
        decode_job_objects([_dumps(records)], arrays=True, compact=True, schema=schema)
    except (TypeError, pl.exceptions.PolarsError) as exc:
        return str(exc).strip().splitlines()[0]
    return None


def _raise_for_first_bad(records: Sequence[Mapping[str, Any]], schema: Mapping[str, Any]) -> None:
    # Bisect to the first row that fails alone (O(log n) decodes, only on the error path).
    lo, hi = 0, len(records)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _decodes(records[lo:mid], schema) is not None:
            hi = mid
        else:
            lo = mid
    bad = records[lo]
    for key, value in bad.items():
        if key not in schema:
            continue
        error = _decodes([{key: value}], {key: schema[key]})
        if error is not None:
            msg = (
                f"row {lo}, field {key!r}: {value!r:.80} does not fit {schema[key]} ({error}); "
                "fix that value (see jobkit.Job for the expected shape)"
            )
            raise FrameError(msg)
    msg = f"row {lo} cannot be read as a job: {_decodes([bad], schema)}"
    raise FrameError(msg)


def from_jobs(jobs: Iterable[Any] | Mapping[str, Any], *, flatten: bool = False) -> pl.DataFrame:
    """Job dicts (or API responses) -> the canonical polars frame.

    `jobs` may hold Job dicts, `jobkit.Job` models, or API responses
    (`{"code", "message", "data"}`: the job in `data` is taken). The frame has exactly
    `JOB_POLARS_SCHEMA`; trait values and `location.fields` are JSON text. Keys the Job schema
    does not know are dropped, as the API itself does.

    `flatten=True` gives dotted columns for the struct fields (`location.text`, `board.key`),
    the `pandas.json_normalize` convention; list columns stay lists. Every jobkit function
    reads that shape back (a location whose fields are all null comes back as null).

    Examples
    --------
    >>> df = from_jobs([
    ...     {"name": "Data Engineer", "tags": [{"name": "remote", "value": True}]},
    ...     {"name": "QA", "tags": [{"name": "contract", "value": "CDI"}], "skills": []},
    ... ])
    >>> df["tags"].to_list()
    [[{'name': 'remote', 'value': 'true'}], [{'name': 'contract', 'value': '"CDI"'}]]
    >>> df["skills"].to_list()
    [None, []]
    >>> response = {"code": 200, "message": "ok", "data": {"name": "QA", "key": "k1"}}
    >>> from_jobs(response)["key"].to_list()
    ['k1']
    >>> from_jobs([{"name": "QA", "location": {"text": "Paris"}}], flatten=True).select(
    ...     "name", "location.text").rows()
    [('QA', 'Paris')]
    """
    frame = _jobs_to_frame(_unwrap(jobs))
    return flatten_frame(frame) if flatten else frame


def flatten_frame(df: pl.DataFrame) -> pl.DataFrame:
    """Struct columns -> dotted columns (`location.text`), in place; lists stay lists.

    Examples
    --------
    >>> flat = flatten_frame(from_jobs([{"name": "QA", "board": {"key": "b1"}}]))
    >>> flat["board.key"].to_list(), "board" in flat.columns
    (['b1'], False)
    """
    exprs: list[pl.Expr] = []
    for name, dtype in df.schema.items():
        if isinstance(dtype, pl.Struct):
            exprs += [
                pl.col(name).struct.field(f.name).alias(f"{name}.{f.name}") for f in dtype.fields
            ]
        else:
            exprs.append(pl.col(name))
    return df.select(exprs)


# --- frame -> JSON --------------------------------------------------------------------------


def _object_body(cols: Sequence[pl.Expr]) -> pl.Expr:
    """`"a":..,"b":..` for plain fields: polars' encoder, without the braces."""
    return pl.struct(cols).struct.json_encode().str.slice(1).str.strip_suffix("}")


def _with_raw_field(expr: pl.Expr, dtype: pl.Struct, raw: str) -> pl.Expr:
    """A struct's JSON with its JSON-text field `raw` spliced in as is (null -> `null`).

    Keys keep the schema's order, so `to_jobs` dicts read like `Job.model_dump()`.
    """
    names = [f.name for f in dtype.fields]
    at = names.index(raw)
    pieces = []
    if at:
        before = [expr.struct.field(n) for n in names[:at]]
        pieces += [pl.struct(before).struct.json_encode().str.strip_suffix("}"), pl.lit(",")]
    else:
        pieces.append(pl.lit("{"))
    pieces += [pl.lit(f'"{raw}":'), expr.struct.field(raw).fill_null("null")]
    if at + 1 < len(names):
        after = [expr.struct.field(n) for n in names[at + 1 :]]
        pieces += [pl.lit(","), pl.struct(after).struct.json_encode().str.slice(1)]
    else:
        pieces.append(pl.lit("}"))
    return pl.when(expr.is_null()).then(pl.lit("null")).otherwise(pl.concat_str(pieces))


def _trait_list(name: str, dtype: pl.List) -> pl.Expr:
    inner = dtype.inner
    assert isinstance(inner, pl.Struct)
    item = _with_raw_field(pl.element(), inner, "value")
    listed = pl.concat_str([pl.lit("["), pl.col(name).list.eval(item).list.join(","), pl.lit("]")])
    return pl.when(pl.col(name).is_null()).then(pl.lit("null")).otherwise(listed)


def _document(schema: pl.Schema, names: Sequence[str]) -> pl.Expr:
    """One JSON object per row over `names` (a subset of the canonical columns, in order)."""
    pieces: list[pl.Expr] = []
    plain: list[str] = []

    def sep() -> str:
        return "," if pieces else ""

    def flush() -> None:
        if plain:
            pieces.extend([pl.lit(sep()), _object_body([pl.col(c) for c in plain])])
            plain.clear()

    for name in names:
        dtype = schema[name]
        if name in TRAIT_COLUMNS:
            assert isinstance(dtype, pl.List)
            flush()
            pieces.extend([pl.lit(f'{sep()}"{name}":'), _trait_list(name, dtype)])
        elif name in _JSON_STRUCT_FIELDS:
            assert isinstance(dtype, pl.Struct)
            flush()
            raw = _with_raw_field(pl.col(name), dtype, _JSON_STRUCT_FIELDS[name])
            pieces.extend([pl.lit(f'{sep()}"{name}":'), raw])
        else:
            plain.append(name)
    flush()
    return pl.concat_str([pl.lit("{"), *pieces, pl.lit("}")])


def to_json_rows(
    df: Any,
    *,
    include_server_fields: bool = False,
    columns: Mapping[str, str] | None = None,
    tags: TraitSpec | None = None,
    metadatas: TraitSpec | None = None,
    ranges_float: RangeSpec | None = None,
    ranges_date: RangeSpec | None = None,
    extra: Extra = "raise",
) -> pl.Series:
    """One Job JSON document per row (a String Series): the bodies `index_frame` POSTs.

    `df` is anything `to_jobs` accepts (with the same conventions). Null fields are emitted
    as `null` (`"skills":null`), and `[]` as `[]`, so `from_jobs` gives the frame back exactly.
    The server-set fields (`SERVER_FIELDS`: key, id, board, updated_at, archived_at) are left
    out unless `include_server_fields=True`. Trait values go out as their JSON type;
    `location.fields` text is spliced in as given (`validate_frame` checks that it is JSON).

    Examples
    --------
    >>> import orjson
    >>> df = from_jobs([{"name": "QA", "tags": [{"name": "remote", "value": True},
    ...                                        {"name": "contract", "value": "CDI"}]}])
    >>> doc = to_json_rows(df)[0]
    >>> orjson.loads(doc)["tags"]
    [{'name': 'remote', 'value': True}, {'name': 'contract', 'value': 'CDI'}]
    >>> with_server = to_json_rows(df, include_server_fields=True)[0]
    >>> "key" in orjson.loads(doc), "key" in orjson.loads(with_server)
    (False, True)
    >>> from_jobs(orjson.loads(x) for x in to_json_rows(df)).equals(df)
    True
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
    names = [c for c in frame.columns if include_server_fields or c not in SERVER_FIELDS]
    return frame.select(_document(frame.schema, names).alias("json")).to_series()


def to_jobs(
    df: Any,
    *,
    columns: Mapping[str, str] | None = None,
    tags: TraitSpec | None = None,
    metadatas: TraitSpec | None = None,
    ranges_float: RangeSpec | None = None,
    ranges_date: RangeSpec | None = None,
    extra: Extra = "raise",
) -> list[dict[str, Any]]:
    """Rows -> Job dicts (every field, server fields included; null stays None, [] stays []).

    Accepts a polars DataFrame or LazyFrame, a pandas DataFrame, or a path to parquet, CSV or
    NDJSON, with the conventions of `jobkit._frames` (dotted columns, lists of skill names,
    `columns=` renames, `tags=` / `metadatas=` / `ranges_float=` / `ranges_date=` gathering,
    `extra="ignore"`).

    Examples
    --------
    >>> import polars as pl
    >>> raw = pl.DataFrame({"title": ["Data Engineer"], "skills": [["python"]],
    ...                     "remote": [True], "pay_min": [40000.0], "pay_max": [None]})
    >>> job = to_jobs(raw, columns={"title": "name"}, tags=["remote"],
    ...               ranges_float={"salary": ("pay_min", "pay_max", "eur")})[0]
    >>> job["name"], job["tags"]
    ('Data Engineer', [{'name': 'remote', 'value': True}])
    >>> job["skills"]
    [{'name': 'python', 'value': None, 'type': None}]
    >>> job["ranges_float"]
    [{'name': 'salary', 'value_min': 40000.0, 'value_max': None, 'unit': 'eur'}]
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
    if frame.is_empty():
        return []
    # One `[...]` array built in polars and parsed by one orjson call, straight from bytes.
    array = pl.concat_str(
        [pl.lit("["), _document(frame.schema, frame.columns).str.join(","), pl.lit("]")]
    )
    blob = frame.select(array.cast(pl.Binary)).item()
    # Millions of fresh dicts and lists would trigger the cyclic GC over and over (it doubles
    # the time); parsed JSON holds no cycles, so the pass is skipped while parsing.
    enabled = gc.isenabled()
    gc.disable()
    try:
        result: list[dict[str, Any]] = orjson.loads(blob)
    except orjson.JSONDecodeError:
        # Trait values are always valid JSON here; `location.fields` text is spliced as given.
        msg = (
            "location.fields holds text that is not JSON; validate_frame names the rows "
            "(give a JSON object or array as text, or null)"
        )
        raise FrameError(msg) from None
    finally:
        if enabled:
            gc.enable()
    return result
