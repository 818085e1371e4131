"""The API reference, generated from docstrings: ``python -m textmix.api_reference docs/api.md``.

Every public name (``__all__``) of the modules in ``MODULES``, with its signature and docstring,
and the public methods and properties of each public class. ``tests/test_api_reference.py`` checks
that every one is documented and that docs/api.md is what this module writes today.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

# the modules whose __all__ is the public API, in reading order
MODULES = (
    "textmix",
    "textmix.text.predict",
    "textmix.text.export",
    "textmix.engine",
    "textmix.integrations.transformers",
)
HEADER = """# textmix API reference

Generated from the docstrings by `python -m textmix.api_reference docs/api.md` (checked by
`tests/test_api_reference.py`: every public name documented, this file current). Recipes, the
command line and the run directory are in the [README](../README.md).
"""


def public_names(module) -> list[str]:
    return list(getattr(module, "__all__", []))


def _signature(obj) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):  # some builtins and properties have none
        return ""


def members(cls: type) -> list[tuple[str, object]]:
    """A class's own public methods and properties (inherited ones are documented where defined)."""
    out = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if inspect.isfunction(value) or isinstance(value, property):
            out.append((name, value))
    return out


def entries() -> list[tuple[str, str, str]]:
    """(qualified name, signature, docstring or "") of every public name and class member."""
    rows = []
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in public_names(module):
            obj = getattr(module, name)
            qualified = f"{module_name}.{name}"
            rows.append((qualified, _signature(obj) if callable(obj) else "", inspect.getdoc(obj) or ""))
            if inspect.isclass(obj):
                for member, value in members(obj):
                    target = value.fget if isinstance(value, property) else value
                    signature = "" if isinstance(value, property) else _signature(target)
                    rows.append((f"{qualified}.{member}", signature, inspect.getdoc(target) or ""))
    return rows


def undocumented() -> list[str]:
    return [name for name, _, doc in entries() if not doc.strip()]


def render() -> str:
    parts, module = [HEADER], None
    for qualified, signature, doc in entries():
        owner = next(m for m in sorted(MODULES, key=len, reverse=True) if qualified.startswith(f"{m}."))
        if owner != module:
            module = owner
            parts.append(f"## `{module}`\n")
        level = "####" if qualified.count(".") > owner.count(".") + 1 else "###"
        parts.append(f"{level} `{qualified.removeprefix(owner + '.')}{signature}`\n\n{doc}\n")
    return "\n".join(parts)


if __name__ == "__main__":
    Path(sys.argv[1]).write_text(render())
