"""The public surface: `jobkit.__all__` is sorted and every name in it resolves."""

from __future__ import annotations

import jobkit


def test_all_is_sorted() -> None:
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions and dunders.
    def key(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert jobkit.__all__ == sorted(jobkit.__all__, key=key)


def test_every_exported_name_resolves() -> None:
    for name in jobkit.__all__:
        assert getattr(jobkit, name) is not None, name


def test_exported_classes_show_the_package_name() -> None:
    for name in jobkit.__all__:
        obj = getattr(jobkit, name)
        if isinstance(obj, type):
            assert obj.__module__ == "jobkit", name
