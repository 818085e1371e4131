"""Regenerate README sections that must not go stale: ``python -m textmix.docs README.md``."""

from __future__ import annotations

import sys
from pathlib import Path

from textmix.engine.recipe import recipe_fields, section_fields
from textmix.engine.tasks import get_task, task_names

START, END = "<!-- recipe-keys:start -->", "<!-- recipe-keys:end -->"


def _table(rows) -> str:
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key, type_name, default, text in rows:
        lines.append(f"| `{key}` | {type_name.replace(' | ', ' or ')} | `{default!r}` | {text.replace('|', '/')} |")
    return "\n".join(lines)


def recipe_key_table() -> str:
    """The shared keys, then each registered task's own sections."""
    parts = ["Every recipe:", "", _table(recipe_fields())]
    for name in task_names():
        task = get_task(name)
        rows = [row for section, cls in task.sections.items() for row in section_fields(section, cls)]
        parts += ["", f"`task: {name}` recipes:", "", _table(rows)]
    return "\n".join(parts)


def render(readme: str) -> str:
    """``readme`` with the text between the recipe-key markers replaced by the current tables."""
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
