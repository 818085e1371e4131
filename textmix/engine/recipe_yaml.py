"""Reading recipe YAML as untrusted input: safe tags only, no key given twice, and a bound on what
anchors and aliases may expand to (a 1 KB "billion laughs" file must not become gigabytes)."""

from __future__ import annotations

import yaml

from textmix.core.errors import RecipeError

MAX_VALUES = 100_000  # scalars, lists and mappings a recipe may hold once aliases are expanded


class RecipeLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping key that appears twice (YAML keeps the last silently)."""


def _mapping(loader: RecipeLoader, node: yaml.MappingNode) -> dict:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice; keep one", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


RecipeLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _check_size(value, where: str) -> None:
    """Count values depth-first, aliases counted every time they are reached; refuse past the bound."""
    count, stack = 0, [value]
    while stack:
        item = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise RecipeError(f"{where} expands to more than {MAX_VALUES:,} values (anchors and aliases?); "
                              "a recipe needs a few dozen: write the values out")  # fmt: skip
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def parse_yaml(text: str, where: str):
    """The value of YAML ``text``; one RecipeError naming ``where`` for anything that is not a plain,
    bounded YAML value (syntax errors, unsafe tags, duplicate keys, numbers Python will not parse)."""
    try:
        value = yaml.load(text, Loader=RecipeLoader)
    except yaml.YAMLError as error:
        raise RecipeError(f"{where} is not valid YAML: {' '.join(str(error).split())}") from None
    except ValueError as error:  # e.g. an integer of more digits than Python converts
        raise RecipeError(f"{where} holds a value that cannot be read: {error}") from None
    _check_size(value, where)
    return value
