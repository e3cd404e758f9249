"""The rules of options and variants that need no database: what a variant must name,
and its title, each problem at its field's path (a request body's 422); and what a
change of the product's options does to its variants (the service's 422 problems)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from shop.kit.validation import FieldProblem
from shop.products.errors import (
    InvalidOptionsError,
    OptionValueInUseError,
    VariantsWouldCollideError,
)

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


# --- changing a product's options (PATCH /products/{id} with ``options``) ------------


class OptionEdit(Protocol):
    """One option as a change asks for it (``schemas.OptionChange``)."""

    @property
    def name(self) -> str: ...
    @property
    def values(self) -> Sequence[str]: ...
    @property
    def renamed_from(self) -> str | None: ...
    @property
    def renamed_values(self) -> Mapping[str, str]: ...
    @property
    def initial_value(self) -> str | None: ...


@dataclass(frozen=True)
class VariantChoice:
    """A variant as a change of options sees it."""

    sku: str
    options: Mapping[str, str]
    active: bool


@dataclass(frozen=True)
class OptionsPlan:
    """The product's options after a change, and each variant's options and title, in
    the order the variants were given."""

    options: Declared
    choices: list[dict[str, str]]
    titles: list[str]


def _invalid(field: str, message: str) -> InvalidOptionsError:
    return InvalidOptionsError([{"field": field, "message": message}])


def _sources(current: Declared, edits: Sequence[OptionEdit]) -> list[str | None]:
    """The current option each edit changes (``renamed_from``, else the one of its name),
    or None for a new option."""
    names = {name for name, _ in current}
    sources: list[str | None] = []
    for i, edit in enumerate(edits):
        field = f"options.{i}"
        source = edit.renamed_from if edit.renamed_from is not None else edit.name
        if source not in names:
            if edit.renamed_from is not None:
                raise _invalid(f"{field}.renamed_from", f"the product has no option {source!r}")
            if edit.initial_value is None:
                raise _invalid(
                    f"{field}.initial_value",
                    f"the product has no option {edit.name!r}: to rename one, name it in"
                    " renamed_from; to add it, give initial_value, the value every variant"
                    " takes",
                )
            if edit.renamed_values:
                raise _invalid(f"{field}.renamed_values", "a new option has no values to rename")
            sources.append(None)
            continue
        if source in sources:
            raise _invalid(field, f"option {source!r} is changed twice")
        if edit.initial_value is not None:
            raise _invalid(f"{field}.initial_value", "only a new option takes an initial value")
        sources.append(source)
    return sources


def _value_map(field: str, old_values: Sequence[str], edit: OptionEdit) -> dict[str, str]:
    """Each current value that stays (renamed or not) -> its value after the change; a
    value missing from it is removed."""
    for old in edit.renamed_values:
        if old not in old_values:
            raise _invalid(f"{field}.renamed_values", f"{old!r} is not a value of this option")
    kept: dict[str, str] = {}
    became: dict[str, str] = {}
    new_values = set(edit.values)
    for old in old_values:
        new = edit.renamed_values.get(old, old)
        if new not in new_values:
            continue
        if new in became:
            raise _invalid(
                f"{field}.renamed_values", f"{became[new]!r} and {old!r} would both become {new!r}"
            )
        became[new] = old
        kept[old] = new
    return kept


def plan_options_change(
    current: Declared, variants: Sequence[VariantChoice], edits: Sequence[OptionEdit]
) -> OptionsPlan:
    """The options ``edits`` ask for, in their order, and what becomes of each variant:

    - an edit names a current option by ``renamed_from`` or by its name; its values are
      the new list: a current value missing from it (and not renamed into it) is
      removed, which no active variant may be using (``option-value-in-use``); an
      archived variant keeps the removed value, as its history;
    - an edit naming no current option adds one: every variant takes its
      ``initial_value``;
    - a current option no edit names is removed from every variant, which the active
      variants must survive without sharing a combination (``variants-would-collide``).

    Edits are well formed already (``schemas.OptionChange``): names and values
    distinct, renamed and initial values among the values. Raises the errors'
    ``invalid-options``, ``option-value-in-use`` or ``variants-would-collide``."""
    old_values = dict(current)
    sources = _sources(current, edits)
    maps = [
        _value_map(f"options.{i}", old_values[source], edit) if source is not None else {}
        for i, (edit, source) in enumerate(zip(edits, sources, strict=True))
    ]
    in_use: dict[tuple[int, str], list[str]] = {}
    choices: list[dict[str, str]] = []
    for variant in variants:
        chosen: dict[str, str] = {}
        for i, (edit, source) in enumerate(zip(edits, sources, strict=True)):
            if source is None:
                assert edit.initial_value is not None  # _sources checked it
                chosen[edit.name] = edit.initial_value
            elif source in variant.options:
                old = variant.options[source]
                if old in maps[i]:
                    chosen[edit.name] = maps[i][old]
                else:  # removed (or removed before, on an archived variant)
                    chosen[edit.name] = old
                    if variant.active:
                        in_use.setdefault((i, old), []).append(variant.sku)
        choices.append(chosen)
    if in_use:
        raise OptionValueInUseError(
            [
                {
                    "field": f"options.{i}.values",
                    "message": f"{value!r} of option {edits[i].name!r} is used by the active"
                    f" variants {', '.join(skus)}; archive them first",
                }
                for (i, value), skus in in_use.items()
            ]
        )
    options: Declared = [(edit.name, list(edit.values)) for edit in edits]
    _check_distinct(options, variants, choices)
    return OptionsPlan(options, choices, [title_of(options, chosen) for chosen in choices])


def _check_distinct(
    options: Declared, variants: Sequence[VariantChoice], choices: Sequence[Mapping[str, str]]
) -> None:
    seen: dict[tuple[str, ...], str] = {}
    collisions: list[dict[str, str]] = []
    for variant, chosen in zip(variants, choices, strict=True):
        if not variant.active:
            continue
        key = tuple(chosen.get(name, "") for name, _ in options)
        if key in seen:
            what = f"be {TITLE_SEPARATOR.join(key)!r}" if key else "have no options"
            collisions.append(
                {
                    "field": "options",
                    "message": f"the active variants {seen[key]} and {variant.sku} would both"
                    f" {what}",
                }
            )
        else:
            seen[key] = variant.sku
    if collisions:
        raise VariantsWouldCollideError(collisions)
