"""The rules of options and variants that need no database: what a variant must name,
and its title: the problems found, each at its field's path (a request body's 422)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from shop.kit.validation import FieldProblem

MAX_OPTIONS = 3
MAX_VALUES = 100  # per option
MAX_VARIANTS = 250  # per product created at once
TITLE_SEPARATOR = " / "

Declared = Sequence[tuple[str, Sequence[str]]]  # (name, values) in the options' order


def option_problems(options: Declared) -> list[FieldProblem]:
    """Each option's name used once, each of its values listed once; at their paths
    (``options.1.values``)."""
    problems: list[FieldProblem] = []
    named: set[str] = set()
    for index, (name, values) in enumerate(options):
        if name in named:
            problems.append((("options", index, "name"), f"another option is named {name!r}"))
        named.add(name)
        repeated = [value for value, count in Counter(values).items() if count > 1]
        if repeated:
            listed = ", ".join(repr(value) for value in repeated)
            problems.append((("options", index, "values"), f"{listed} listed more than once"))
    return problems


def combination_problems(options: Declared, chosen: Mapping[str, str]) -> list[FieldProblem]:
    """What keeps ``chosen`` from naming exactly the product's options, each with a
    declared value; paths below the variant (``options.Size``)."""
    declared = dict(options)
    problems: list[FieldProblem] = []
    for name in declared:
        if name not in chosen:
            problems.append((("options", name), f"a value of option {name!r} is required"))
    for name, value in chosen.items():
        if name not in declared:
            known = ", ".join(declared) or "no options"
            problems.append((("options", name), f"{name!r} is not an option ({known})"))
        elif value not in declared[name]:
            problems.append(
                (("options", name), f"{value!r} is not a declared value of option {name!r}")
            )
    return problems


def combination_key(options: Declared, chosen: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(chosen[name] for name, _ in options)


def variant_problems(
    options: Declared, combinations: Sequence[Mapping[str, str]]
) -> list[FieldProblem]:
    """Options well formed; each variant names declared values; no combination twice.
    Every problem at its path below the product (``variants.2.options.Size``), so a form
    can show each next to its input."""
    problems = option_problems(options)
    if problems:  # the variants can't be checked against options that are wrong
        return problems
    seen: set[tuple[str, ...]] = set()
    for index, chosen in enumerate(combinations):
        wrong = combination_problems(options, chosen)
        problems += [(("variants", index, *path), message) for path, message in wrong]
        if wrong:
            continue
        key = combination_key(options, chosen)
        if key in seen:
            title = TITLE_SEPARATOR.join(key)
            problems.append(
                (("variants", index, "options"), f"another variant has the combination {title!r}")
            )
        seen.add(key)
    return problems


def title_of(options: Declared, chosen: Mapping[str, str]) -> str:
    """The option values in the options' order: ``"M / Red"``; ``""`` without options."""
    return TITLE_SEPARATOR.join(chosen[name] for name, _ in options if name in chosen)
