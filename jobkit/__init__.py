"""jobkit: move job postings between DataFrames and HrFlow.ai job boards.

Examples
--------
>>> import jobkit
>>> jobs = jobkit.to_jobs(jobkit.from_jobs([{"name": "Data Engineer", "reference": "de-1"}]))
>>> jobs[0]["name"], jobs[0]["reference"]
('Data Engineer', 'de-1')
"""

from __future__ import annotations

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
    UnsupportedFrameError,
)
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

__version__ = "0.1.0"

# Each part of the package adds its public names here, and to __all__ (kept sorted; a test
# checks it).
__all__ = [
    "ISO_8601_PATTERN",
    "JOB_POLARS_SCHEMA",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "AuthenticationError",
    "BoardInfo",
    "FrameError",
    "Job",
    "JobValidationError",
    "JobkitError",
    "Location",
    "NotFoundError",
    "RangeDate",
    "RangeFloat",
    "Section",
    "ServerConfigError",
    "Skill",
    "Trait",
    "UnsupportedFrameError",
    "__version__",
    "job_json_schema",
]

# Reprs and tracebacks show `jobkit.Job`, not `jobkit._schema.Job` (as httpx does).
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = "jobkit"
