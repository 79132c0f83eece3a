"""jobkit: move job postings between DataFrames and HrFlow.ai job boards.

Examples
--------
>>> import jobkit
>>> jobs = jobkit.to_jobs(jobkit.from_jobs([{"name": "Data Engineer", "reference": "de-1"}]))
>>> jobs[0]["name"], jobs[0]["reference"]
('Data Engineer', 'de-1')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jobkit._board import read_board
from jobkit._client import AsyncBoard, AsyncClient, Board, Client, board, connect
from jobkit._convert import from_jobs, to_jobs, to_json_rows
from jobkit._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    AuthenticationError,
    FrameError,
    JobkitError,
    JobValidationError,
    NotFoundError,
    ServerConfigError,
    UnreachableBoardError,
    UnsupportedFrameError,
)
from jobkit._index import aindex_frame, index_frame
from jobkit._schema import (
    ISO_8601_PATTERN,
    JOB_POLARS_SCHEMA,
    BoardInfo,
    Job,
    Location,
    RangeDate,
    RangeFloat,
    Section,
    Skill,
    Trait,
    job_json_schema,
)
from jobkit._validate import validate_frame

if TYPE_CHECKING:
    from jobkit._widgets import JobPreview, ResultsView, preview, show_results

__version__ = "0.1.0"

# Each part of the package adds its public names here, and to __all__ (kept sorted; a test
# checks it).
__all__ = [
    "ISO_8601_PATTERN",
    "JOB_POLARS_SCHEMA",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "AsyncBoard",
    "AsyncClient",
    "AuthenticationError",
    "Board",
    "BoardInfo",
    "Client",
    "FrameError",
    "Job",
    "JobPreview",
    "JobValidationError",
    "JobkitError",
    "Location",
    "NotFoundError",
    "RangeDate",
    "RangeFloat",
    "ResultsView",
    "Section",
    "ServerConfigError",
    "Skill",
    "Trait",
    "UnreachableBoardError",
    "UnsupportedFrameError",
    "__version__",
    "aindex_frame",
    "board",
    "connect",
    "from_jobs",
    "index_frame",
    "job_json_schema",
    "preview",
    "read_board",
    "show_results",
    "to_jobs",
    "to_json_rows",
    "validate_frame",
]

# Reprs and tracebacks show `jobkit.Job`, not `jobkit._schema.Job` (as httpx does).
for _name in __all__:
    _obj = globals().get(_name)  # lazy names (below) are not loaded yet
    if isinstance(_obj, type):
        _obj.__module__ = "jobkit"

# The notebook views load ipywidgets, which scripts and the server never need: they are
# imported on first use (PEP 562).
_LAZY = {
    name: "jobkit._widgets" for name in ("JobPreview", "ResultsView", "preview", "show_results")
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        if isinstance(value, type):
            value.__module__ = "jobkit"
        globals()[name] = value
        return value
    msg = f"module 'jobkit' has no attribute {name!r}"
    raise AttributeError(msg)
