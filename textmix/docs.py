"""Regenerate README sections that must not go stale: ``python -m textmix.docs README.md``."""

from __future__ import annotations

import sys
from pathlib import Path

from textmix.recipe import recipe_fields

START, END = "<!-- recipe-keys:start -->", "<!-- recipe-keys:end -->"


def recipe_key_table() -> str:
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key, type_name, default, text in recipe_fields():
        rows.append(f"| `{key}` | {type_name.replace(' | ', ' or ')} | `{default!r}` | {text.replace('|', '/')} |")
    return "\n".join(rows)


def render(readme: str) -> str:
    """``readme`` with the text between the recipe-key markers replaced by the current table."""
    head, start, rest = readme.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"README lacks the markers {START} ... {END}")
    return f"{head}{START}\n{recipe_key_table()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    path = Path((argv or sys.argv[1:] or ["README.md"])[0])
    path.write_text(render(path.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
