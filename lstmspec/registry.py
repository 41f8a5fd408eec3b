"""A tiny name → object registry used for functions, backends, data formats, frameworks.

Registries instead of if-chains: adding an activation or a framework is one
``register`` call, a duplicate is an error, and a failed lookup lists what exists.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

from .errors import LookupFailed

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, what: str, items: Mapping[str, T] | None = None) -> None:
        """``items``: a table that is complete where it is written (a module's formats), registered in order."""
        self.what = what
        self._items: dict[str, T] = {}
        for name, obj in (items or {}).items():
            self.register(name, obj)

    def register(self, name: str, obj: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.what} {name!r} is already registered")
        self._items[name] = obj
        return obj

    def decorator(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            return self.register(name, obj)

        return deco

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise LookupFailed(self.what, name, self._items) from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def names(self) -> list[str]:
        return list(self._items)
