"""The license a model card states. The Hub accepts a license id (``apache-2.0``, ``mit``,
``cc-by-4.0``...) or ``other`` with ``license_name`` and ``license_link``; the terms of trained
weights follow their base model and data, so textmix states one only where it knows it (a base
model's own license) or the user gives it (``push --license``, ``hub.license``), never ``other`` alone.

Example::

    >>> card_license(None, None, None, "sentence-transformers/all-MiniLM-L6-v2")
    CardLicense(id='apache-2.0', name=None, link=None)
"""

from __future__ import annotations

from dataclasses import dataclass

from textmix.core.errors import HubError

# the licenses of the base models textmix knows by name (their Hub cards say so)
BASE_LICENSES = {"sentence-transformers/all-MiniLM-L6-v2": "apache-2.0"}
CLI = ("--license", "--license-name", "--license-link")
RECIPE = ("hub.license", "hub.license_name", "hub.license_link")


@dataclass(frozen=True)
class CardLicense:
    id: str
    name: str | None = None
    link: str | None = None


def card_license(
    license: str | None, name: str | None, link: str | None, base_model: str | None, options: tuple = CLI
) -> CardLicense | None:
    """The license to state: the one given, else the base model's known one, else None (unknown).
    ``other`` without a name and a link, or a name / link without ``other``, is refused, naming
    ``options`` (the command line's or the recipe's keys)."""
    key, name_key, link_key = options
    if license is not None and not license.strip():
        raise HubError(f"{key} is empty; {how(options)}")
    if license is None and (name or link):
        raise HubError(f"{name_key} and {link_key} describe {key} other: give {key} other too")
    license = license or BASE_LICENSES.get(base_model or "")
    if license is None:
        return None
    if license == "other" and not (name and link):
        raise HubError(f"{key} other needs {name_key} and {link_key} (the Hub refuses other without them)")
    if license != "other" and (name or link):
        raise HubError(f"{name_key} and {link_key} go with {key} other only, not {license}")
    return CardLicense(license, name, link)


def how(options: tuple = CLI) -> str:
    key, name_key, link_key = options
    return (f"give {key} (a Hub license id such as apache-2.0, mit or cc-by-4.0), or {key} other with {name_key} "
            f"and {link_key}")  # fmt: skip


def require_license(found: CardLicense | None, what: str, options: tuple = CLI) -> CardLicense:
    """A license for an upload: the weights of ``what`` have no base model whose license textmix
    knows, so the user states one."""
    if found is None:
        raise HubError(f"{what}: the card needs the weights' license, which follows their training data and base "
                       f"model; {how(options)}")  # fmt: skip
    return found
