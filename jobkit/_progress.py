"""Progress of a bulk call: `tqdm.auto` (a widget in notebooks, a bar in terminals), with counts.

`progress=None` means auto: shown in a notebook and on a terminal, silent when stderr is not a
TTY (CI, pipes, pytest); True forces a bar, False disables it. The bar shows how many rows got
each status, never any credential.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ["Progress"]


class Progress:
    """Row counter with counts by status in the postfix; a no-op when disabled.

    Examples
    --------
    >>> bar = Progress(total=3, enabled=False)
    >>> bar.update("created"); bar.update("created"); bar.update("invalid", 1)
    >>> bar.counts
    Counter({'created': 2, 'invalid': 1})
    >>> bar.close()
    """

    def __init__(
        self, *, total: int | None, enabled: bool | None, desc: str = "indexing", unit: str = "job"
    ) -> None:
        self.counts: Counter[str] = Counter()
        self._bar: Any = None
        if enabled is False:
            return
        from tqdm.auto import tqdm

        # disable=None: tqdm hides the bar when stderr is not a TTY (notebooks always show it).
        self._bar = tqdm(
            total=total,
            desc=desc,
            unit=unit,
            disable=None if enabled is None else False,
            dynamic_ncols=True,
            mininterval=0.2,
        )

    def update(self, status: str, n: int = 1) -> None:
        if n <= 0:
            return
        self.counts[status] += n
        if self._bar is not None:
            self._bar.set_postfix(dict(sorted(self.counts.items())), refresh=False)
            self._bar.update(n)

    def set_total(self, total: int) -> None:
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix(dict(sorted(self.counts.items())), refresh=False)
            self._bar.close()
            self._bar = None
