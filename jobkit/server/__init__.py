"""The local board server: the HrFlow job API on SQLite, over HTTP and in-process.

`jobkit serve` serves it on 127.0.0.1; `jobkit.connect()` with no configuration uses it
in-process through `httpx.ASGITransport` (`local_app()`), opening no port. Both speak the
API the official SDK speaks (`Hrflow(api_url="http://127.0.0.1:PORT/v1/", ...)` works):

=========================  ======================================================
``POST job/indexing``      create a job (flat or ``{"board_key", "job": {...}}``)
``PUT job/indexing``       replace a job found by ``key`` or ``reference``
``GET job/indexing``       one job by ``key`` or ``reference`` (archived included)
``PATCH job/indexing/archive``  archive (``is_archive: 1``) or unarchive (``0``)
``GET storing/jobs``       list (``return_job``, ``include_archived``, filters)
``GET jobs/searching``     search (``name``, ``text_keywords``)
``GET boards``, ``board``  the boards the key may see
``GET auth``               the key's permission
``GET openapi.json``       this API as OpenAPI 3
=========================  ======================================================

Where the embedded store's data lives: see `jobkit.server._home` (`$JOBKIT_HOME`, else
`$XDG_DATA_HOME/jobkit`, else `~/.local/share/jobkit`).
"""

from __future__ import annotations

from jobkit.server._home import LocalApp, close_local_apps, jobkit_home, local_app
from jobkit.server.app import DEFAULT_MAX_BODY_BYTES, BoardApp, create_app
from jobkit.server.faults import FaultInjector, FaultSpec
from jobkit.server.store import Store

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "BoardApp",
    "FaultInjector",
    "FaultSpec",
    "LocalApp",
    "Store",
    "close_local_apps",
    "create_app",
    "jobkit_home",
    "local_app",
]
