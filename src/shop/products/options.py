"""The rules of options and variants that need no database: what a variant must name,
and its title. Raise ``ValueError`` (a request body's 422) or :class:`OptionsError`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

MAX_OPTIONS = 3
MAX_VALUES = 100  # per option
MAX_VARIANTS = 250  # per product created at once
TITLE_SEPARATOR = " / "

Declared = Sequence[tuple[str, Sequence[str]]]  # (name, values) in the options' order


def check_options(options: Declared) -> None:
    names = [name for name, _ in options]
    if len(set(names)) != len(names):
        raise ValueError("option names must differ")
    for name, values in options:
        if len(set(values)) != len(values):
            raise ValueError(f"option {name!r} lists a value more than once")


def check_combination(options: Declared, chosen: Mapping[str, str]) -> None:
    """``chosen`` names exactly the product's options, each with a declared value."""
    declared = {name: set(values) for name, values in options}
    if set(chosen) != set(declared):
        expected = ", ".join(declared) or "no options"
        raise ValueError(f"a variant names exactly the product's options ({expected})")
    for name, value in chosen.items():
        if value not in declared[name]:
            raise ValueError(f"{value!r} is not a declared value of option {name!r}")


def combination_key(options: Declared, chosen: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(chosen[name] for name, _ in options)


def check_variants(options: Declared, combinations: Sequence[Mapping[str, str]]) -> None:
    """Options well formed; each variant names declared values; no combination twice."""
    check_options(options)
    seen: set[tuple[str, ...]] = set()
    for chosen in combinations:
        check_combination(options, chosen)
        key = combination_key(options, chosen)
        if key in seen:
            raise ValueError(f"two variants have the combination {TITLE_SEPARATOR.join(key)!r}")
        seen.add(key)


def title_of(options: Declared, chosen: Mapping[str, str]) -> str:
    """The option values in the options' order: ``"M / Red"``; ``""`` without options."""
    return TITLE_SEPARATOR.join(chosen[name] for name, _ in options if name in chosen)
