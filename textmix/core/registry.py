"""One registry helper for every kind textmix looks up by name: training methods, calibrators,
conformal scores, models, tasks and datasets.

    METHODS = Registry("method")

    @METHODS.register          # a class registers under its ``name`` attribute
    class Mixup(Method):
        name = "mixup"

    METHODS.add("mine", entry)  # any object under an explicit name
    METHODS.get("mixpu")       # UnknownNameError: method 'mixpu' is unknown; did you mean 'mixup'? ...

Names keep their registration order (the order of help texts, docs and reports); registering a
name again replaces its entry (a program may override a built-in).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from textmix.core.errors import ArgumentError, RecipeError

T = TypeVar("T")


class UnknownNameError(RecipeError, ArgumentError):
    """A name no registry entry has: the message names the value, the closest known one and all of
    them. One class for every registry; it is a RecipeError (recipes) and an ArgumentError (APIs)."""


class Registry(Generic[T]):
    """Entries of one kind by name.

    Args:
        kind: what an entry is, in messages ("method", "calibrator", "conformal score"...).
        check: called as ``check(name, entry)`` before an entry is added; raises ValueError for an
            entry that would break its users (a programming error, reported at import time).
        fallback: called with a name the registry does not hold; returns an entry to add (e.g. from
            a package's entry points) or None.
        extra_names: names ``fallback`` can provide without loading them (listed in messages).
    """

    def __init__(
        self,
        kind: str,
        check: Callable[[str, T], None] | None = None,
        fallback: Callable[[str], T | None] | None = None,
        extra_names: Callable[[], list[str]] | None = None,
    ):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._check, self._fallback, self._extra_names = check, fallback, extra_names
        self._listeners: list[Callable[[], None]] = []

    def add(self, name: str, entry: T) -> T:
        """Register ``entry`` as ``name`` and return it."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} needs a non-empty string name, got {name!r}")
        if self._check is not None:
            self._check(name, entry)
        self._entries[name] = entry
        for listener in self._listeners:
            listener()
        return entry

    def register(self, cls: T) -> T:
        """Class decorator: register ``cls`` under its ``name`` attribute."""
        name = getattr(cls, "name", None)
        if not name:
            raise ValueError(f"{getattr(cls, '__name__', cls)} needs a class attribute name")
        return self.add(name, cls)

    def remove(self, name: str) -> None:
        """Forget ``name`` (a program removing what it registered; unknown names are an error)."""
        self.get(name)
        del self._entries[name]
        for listener in self._listeners:
            listener()

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every registration (e.g. to clear a cache built from entries)."""
        self._listeners.append(listener)

    def names(self) -> tuple[str, ...]:
        """Registered names in registration order, then the ones ``fallback`` can still load."""
        extra = [n for n in (self._extra_names() if self._extra_names else []) if n not in self._entries]
        return (*self._entries, *sorted(extra))

    def get(self, name: str) -> T:
        """The entry of ``name``; UnknownNameError naming the closest and every known name otherwise."""
        if name in self._entries:
            return self._entries[name]
        if self._fallback is not None and isinstance(name, str):
            found = self._fallback(name)
            if found is not None:
                return self.add(name, found)
        raise UnknownNameError(self.unknown_message(name))

    def unknown_message(self, name) -> str:
        """One line naming an unknown ``name``, the closest registered one and every choice."""
        known = self.names()
        close = difflib.get_close_matches(str(name), known, n=1) if isinstance(name, str) else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{self.kind} {name!r} is unknown{hint}; known: {', '.join(known) or 'none'}"

    def items(self) -> list[tuple[str, T]]:
        """(name, entry) pairs in registration order."""
        return list(self._entries.items())

    def values(self) -> list[T]:
        """The entries in registration order."""
        return list(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
