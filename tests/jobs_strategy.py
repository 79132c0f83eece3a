"""A hypothesis strategy for Job dicts, derived from the schema (not restated).

Each field's strategy follows its canonical polars dtype and its `JOB_FIELD_RULES` entry:
patterns, bounds and choices give valid jobs; JSON-text fields get any JSON scalar (or, for
`location.fields`, an object, `[]` or null). Text is biased toward what breaks JSON: quotes,
backslashes, control characters, `"true"`-like strings and non-BMP unicode.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from hypothesis import strategies as st

from jobkit._schema import JOB_FIELD_RULES, JOB_POLARS_SCHEMA

__all__ = ["job_dicts", "json_scalars", "nasty_text"]

_TRICKY = ['"', "\\", "\x00", "\x1f", "\n", "\u2028", "é", "😀", "/", "{", "}", ",", ":"]
nasty_text = st.one_of(
    st.text(
        alphabet=st.one_of(st.sampled_from(_TRICKY), st.characters(exclude_categories=["Cs"])),
        max_size=12,
    ),
    st.sampled_from(["true", "false", "null", "1", "0.9", '"x"', '"value":1', "", " "]),
)
_floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.1, 1.0, -0.0, 1e300, 5e-324, 123456789.12345679, 0.30000000000000004]),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    _floats,
    nasty_text,
)
_json_objects = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(nasty_text, inner, max_size=3),
    max_leaves=6,
)
_iso = st.from_regex(JOB_FIELD_RULES["created_at"].pattern or "", fullmatch=True)


def _for(path: str, dtype: pl.DataType, valid: bool) -> st.SearchStrategy[Any]:
    rule = JOB_FIELD_RULES.get(path)
    optional = rule is None or not rule.required or not valid
    strategy: st.SearchStrategy[Any]
    if isinstance(dtype, pl.Struct):
        strategy = _struct(path, dtype, valid)
    elif isinstance(dtype, pl.List):
        inner = dtype.inner
        assert isinstance(inner, pl.Struct)
        strategy = st.lists(_struct(path, inner, valid), max_size=3)
    elif rule is not None and rule.json_text:
        if path == "location.fields":
            strategy = st.one_of(
                st.just([]), st.dictionaries(nasty_text, _json_objects, max_size=3)
            )
        else:
            strategy = json_scalars
    elif rule is not None and rule.choices:
        strategy = st.sampled_from(rule.choices)
        if not valid:
            strategy = strategy | nasty_text
    elif rule is not None and rule.pattern:
        strategy = _iso if valid else _iso | nasty_text
    elif dtype == pl.Float64:
        lo = None if rule is None or rule.ge is None or not valid else rule.ge
        hi = None if rule is None or rule.le is None or not valid else rule.le
        strategy = st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False)
    elif dtype == pl.Int64:
        strategy = st.integers(min_value=0, max_value=2**63 - 1)
    else:
        strategy = nasty_text
        if rule is not None and rule.min_length and valid:
            strategy = strategy.filter(lambda s: len(s) >= (rule.min_length or 0))
    return st.one_of(st.none(), strategy) if optional else strategy


def _struct(prefix: str, dtype: pl.Struct, valid: bool) -> st.SearchStrategy[dict[str, Any]]:
    fields = {f.name: _for(f"{prefix}.{f.name}", f.dtype, valid) for f in dtype.fields}
    required = {n: s for n, s in fields.items() if JOB_FIELD_RULES[f"{prefix}.{n}"].required}
    optional = {n: s for n, s in fields.items() if n not in required}
    parts = st.fixed_dictionaries(required, optional=optional)
    if prefix == "ranges_float" and valid:
        # The model's one cross-field rule: value_min <= value_max.
        parts = parts.map(_ordered)
    return parts


def _ordered(part: dict[str, Any]) -> dict[str, Any]:
    low, high = part.get("value_min"), part.get("value_max")
    if low is not None and high is not None and low > high:
        return {**part, "value_min": high, "value_max": low}
    return part


def job_dicts(*, valid: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    """Job dicts with any subset of fields (missing, null, [] and values all occur).

    `valid=False` also breaks the declared rules (empty or missing names, out-of-range
    coordinates, non-ISO dates, unknown skill types), with the JSON types still right.
    """
    fields = {n: _for(n, d, valid) for n, d in JOB_POLARS_SCHEMA.items()}
    required = {n: s for n, s in fields.items() if JOB_FIELD_RULES[n].required and valid}
    optional = {n: s for n, s in fields.items() if n not in required}
    return st.fixed_dictionaries(required, optional=optional)
