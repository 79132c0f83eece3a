"""The HrFlow Job object: the single source of truth for jobkit.

Everything else derives from the pydantic models below:

* the JSON Schema (`job_json_schema`),
* the canonical polars schema (`JOB_POLARS_SCHEMA`, built by `polars_schema`),
* the client-side validation rules (`validate_frame` reads the constraints declared
  here through `field_rules`),
* the local board server's request model.

Faithful to the HrFlow API reference (hrflow-api.md §3) and the seed's
`POST /v1/job/indexing` documentation. Two deliberate departures from the official SDK's
own `HrFlowJob`, which fails on real API responses:

* every trait `value` keeps its JSON type (null, bool, number or string);
* `location.fields` may be an object, a PHP-style empty list `[]`, or null.

In a polars frame, values whose JSON type varies from row to row (`value`,
`location.fields`) are held as JSON text in a String column, because a polars column has
one type and inference would silently turn `true` into `"true"`.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, Union

import polars as pl
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

__all__ = [
    "ISO_8601_PATTERN",
    "JOB_FIELD_RULES",
    "JOB_POLARS_SCHEMA",
    "SERVER_FIELDS",
    "BoardInfo",
    "FieldRule",
    "Job",
    "JsonValue",
    "Location",
    "RangeDate",
    "RangeFloat",
    "Section",
    "Skill",
    "Trait",
    "field_rules",
    "job_json_schema",
    "polars_schema",
]

# ISO 8601 as HrFlow sends and accepts it: a date, optionally a time (minutes, seconds and
# fractions optional) and an offset (`Z`, `+01:00` or the API's own `+0000`). The same
# pattern is checked by pydantic on one job and by polars on a whole frame (both use
# Rust's regex syntax), so one job and one row are judged alike. `[0-9]`, not `\d`: in
# Rust's regex `\d` also matches non-ASCII digits such as '੩'.
ISO_8601_PATTERN: Final = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?"
    r"(Z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?)?$"
)

# A trait value keeps the JSON type it was sent with: `true`, `1`, `0.9` and `"tag"` all
# occur in real responses. Strict members stop pydantic from coercing `"1"` into `1`.
JsonValue = StrictBool | StrictInt | StrictFloat | StrictStr | None

IsoDateTime = Annotated[str, Field(pattern=ISO_8601_PATTERN)]
TraitName = Annotated[str, Field(min_length=1)]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]


class _Part(BaseModel):
    # Unknown keys are dropped, as the API itself does (e.g. `location.geopoint`).
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Location(_Part):
    """Where the job is. The API does not geocode: `lat`/`lng` stay null unless sent."""

    text: str | None = None
    lat: Latitude | None = None
    lng: Longitude | None = None
    gmaps: str | None = None
    # An object of address parts, or `[]` (PHP's empty array) or null in real responses.
    fields: dict[str, Any] | list[Any] | None = None


class Section(_Part):
    """A titled block of text (deprecated by HrFlow in favour of the text fields)."""

    name: str | None = None
    title: str | None = None
    description: str | None = None


class Trait(_Part):
    """A named value: languages, tasks, courses, certifications, interests, tags, metadatas."""

    name: TraitName
    value: JsonValue = None


class Skill(Trait):
    """A skill; `type` is `hard`, `soft` or unknown (null)."""

    type: Literal["hard", "soft"] | None = None


class RangeFloat(_Part):
    """A numeric range, e.g. a salary: `{"name": "salary", "value_min": 30, "unit": "eur"}`."""

    name: TraitName
    value_min: float | None = None
    value_max: float | None = None
    unit: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> RangeFloat:
        # `validate_frame` checks the same rule on a whole frame (`_validate._range_order`).
        low, high = self.value_min, self.value_max
        if low is not None and high is not None and low > high:
            msg = f"value_min {low} is greater than value_max {high}"
            raise ValueError(msg)
        return self


class RangeDate(_Part):
    """A date range; the bounds are ISO 8601 strings, kept exactly as sent."""

    name: TraitName
    value_min: IsoDateTime | None = None
    value_max: IsoDateTime | None = None


class BoardInfo(_Part):
    """The board summary the API embeds in every job it returns."""

    key: str | None = None
    name: str | None = None
    type: str | None = None
    subtype: str | None = None
    environment: str | None = None


class Job(_Part):
    """One HrFlow job posting, as sent to and returned by `/v1/job/indexing`.

    Examples
    --------
    >>> job = Job.model_validate({"name": "Data Engineer", "reference": "de-1",
    ...                           "tags": [{"name": "remote", "value": True}]})
    >>> job.tags[0].value
    True
    >>> job.model_dump(mode="json", exclude_none=True)["tags"]
    [{'name': 'remote', 'value': True}]
    """

    # Server-set fields: present in responses, ignored or derived on write.
    key: str | None = None
    board_key: str | None = None
    id: int | None = None
    board: BoardInfo | None = None
    # The posting itself.
    reference: str | None = None
    name: TraitName
    url: str | None = None
    summary: str | None = None
    created_at: IsoDateTime | None = None
    updated_at: str | None = None
    archived_at: str | None = None
    agent_key: str | None = None
    location: Location | None = None
    sections: list[Section] | None = None
    culture: str | None = None
    benefits: str | None = None
    responsibilities: str | None = None
    requirements: str | None = None
    interviews: str | None = None
    skills: list[Skill] | None = None
    languages: list[Trait] | None = None
    tasks: list[Trait] | None = None
    courses: list[Trait] | None = None
    certifications: list[Trait] | None = None
    interests: list[Trait] | None = None
    tags: list[Trait] | None = None
    metadatas: list[Trait] | None = None
    ranges_float: list[RangeFloat] | None = None
    ranges_date: list[RangeDate] | None = None

    def __repr__(self) -> str:
        # Short and deterministic (nbval compares text/plain outputs).
        return f"Job(name={self.name!r}, reference={self.reference!r}, key={self.key!r})"

    def _repr_html_(self) -> str:
        from jobkit._render import render_job_card  # the notebook layer is optional here

        return render_job_card(self.model_dump(mode="json"))


# Fields the server sets; a request body never needs them (PUT identifies a job by `key`).
SERVER_FIELDS: Final = ("key", "id", "board", "updated_at", "archived_at")


def job_json_schema() -> dict[str, Any]:
    """The JSON Schema of a Job, derived from the pydantic model.

    Examples
    --------
    >>> schema = job_json_schema()
    >>> schema["required"]
    ['name']
    >>> "ranges_float" in schema["properties"]
    True
    """
    return Job.model_json_schema()


# --- polars schema ------------------------------------------------------------------------

_SCALARS: Final[dict[type, pl.DataType]] = {
    str: pl.String(),
    int: pl.Int64(),
    float: pl.Float64(),
    bool: pl.Boolean(),
}


def _non_null_args(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _non_null_args(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def _dtype_for(annotation: Any) -> pl.DataType:
    args = _non_null_args(annotation)
    if len(args) != 1:
        # A union of several JSON types (a trait value, `location.fields`): JSON text.
        return pl.String()
    (arg,) = args
    origin = typing.get_origin(arg)
    if origin is Annotated:
        return _dtype_for(arg)
    if origin is list:
        return pl.List(_dtype_for(typing.get_args(arg)[0]))
    if origin is Literal:
        return pl.String()
    if isinstance(arg, type) and issubclass(arg, BaseModel):
        return pl.Struct(dict(polars_schema(arg)))
    if arg in _SCALARS:
        return _SCALARS[arg]
    # dict[str, Any] and other free-form JSON: JSON text.
    return pl.String()


def polars_schema(model: type[BaseModel] = Job) -> pl.Schema:
    """The canonical polars schema of a model, derived field by field.

    Nested models become `Struct`, lists of models `List(Struct)`; values whose JSON type
    varies (a trait `value`, `location.fields`) become String columns holding JSON text.

    Examples
    --------
    >>> schema = polars_schema()
    >>> schema["skills"]
    List(Struct({'name': String, 'value': String, 'type': String}))
    >>> schema["location"]
    Struct({'text': String, 'lat': Float64, 'lng': Float64, 'gmaps': String, 'fields': String})
    """
    return pl.Schema(
        {name: _dtype_for(info.annotation) for name, info in model.model_fields.items()}
    )


JOB_POLARS_SCHEMA: Final = polars_schema(Job)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model a field holds (directly or as list items), if any."""
    args = _non_null_args(annotation)
    if len(args) != 1:
        return None
    (arg,) = args
    if typing.get_origin(arg) is list:
        return _model_of(typing.get_args(arg)[0])
    if isinstance(arg, type) and issubclass(arg, BaseModel):
        return arg
    return None


@dataclass(frozen=True)
class FieldRule:
    """The constraints declared on one field, read off its annotation.

    `validate_frame` turns these into polars expressions, so that a frame is judged by the
    same rules as one job.
    """

    path: str
    required: bool
    json_text: bool = False
    ge: float | None = None
    le: float | None = None
    min_length: int | None = None
    pattern: str | None = None
    choices: tuple[str, ...] | None = None


def _collect(annotation: Any, rule: dict[str, Any]) -> None:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        base, *metadata = typing.get_args(annotation)
        for item in metadata:
            for meta in [item, *getattr(item, "metadata", [])]:
                for attr in ("ge", "le", "min_length", "pattern"):
                    if getattr(meta, attr, None) is not None:
                        rule[attr] = getattr(meta, attr)
        _collect(base, rule)
    elif origin in (Union, types.UnionType):
        for arg in typing.get_args(annotation):
            _collect(arg, rule)
    elif origin is Literal:
        rule["choices"] = tuple(typing.get_args(annotation))


def field_rules(model: type[BaseModel] = Job, prefix: str = "") -> dict[str, FieldRule]:
    """The rule of every field of `model` and of its nested models, by dotted path.

    A path into a list of parts names the part's field: `skills.type`, `ranges_float.unit`.

    Examples
    --------
    >>> rules = field_rules()
    >>> rules["location.lat"].ge, rules["location.lat"].le
    (-90, 90)
    >>> rules["skills.type"].choices
    ('hard', 'soft')
    >>> rules["name"].required, rules["tags.name"].min_length
    (True, 1)
    """
    out: dict[str, FieldRule] = {}
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        collected: dict[str, Any] = {}
        # pydantic hoists the constraints of a top-level Annotated into `info.metadata`.
        _collect(
            Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation,
            collected,
        )
        out[path] = FieldRule(
            path=path,
            required=info.is_required(),
            # several JSON types in one field: held as JSON text in a frame
            json_text=len(_non_null_args(info.annotation)) > 1,
            **collected,
        )
        nested = _model_of(info.annotation)
        if nested is not None:
            out.update(field_rules(nested, prefix=f"{path}."))
    return out


JOB_FIELD_RULES: Final = field_rules(Job)
