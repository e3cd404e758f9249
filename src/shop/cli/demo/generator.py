"""The demo catalog itself: categories and products drawn from one seeded generator
(see :mod:`shop.cli.demo`)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shop.cli.demo.departments import COLOURS, DEPARTMENTS, SHIPPING, Department, Kind
from shop.products.models import ProductStatus
from shop.products.slugs import slugify

DEFAULT_SEED = 20261125
DEFAULT_PRODUCTS = 1200


@dataclass(frozen=True)
class DemoCategory:
    slug: str
    name: str
    parent_slug: str | None = None


@dataclass(frozen=True)
class DemoVariant:
    sku: str
    options: tuple[tuple[str, str], ...]  # (option, value) in the options' order
    price: int  # minor units
    initial_stock: int


@dataclass(frozen=True)
class DemoProduct:
    sku: str
    slug: str
    name: str
    description: str
    price: int  # minor units
    category_slug: str
    department: str  # the top-level category's SKU code, e.g. "AUD"
    attributes: dict[str, Any]
    status: ProductStatus
    initial_stock: int
    colour: tuple[int, int, int]  # of the picture
    # Sizes, colours or capacities to choose from; none: one default variant.
    options: tuple[tuple[str, tuple[str, ...]], ...] = ()
    variants: tuple[DemoVariant, ...] = ()


@dataclass(frozen=True)
class DemoCatalog:
    categories: tuple[DemoCategory, ...]  # every parent before its children
    products: tuple[DemoProduct, ...]


_BOOK_WORDS: dict[str, tuple[str, ...]] = {
    "adj": ("Silent", "Golden", "Hidden", "Forgotten", "Midnight", "Crimson", "Gentle", "Wild"),
    "thing": ("Orchard", "Lighthouse", "Garden", "River", "Harbour", "Library", "Winter", "Atlas"),
    "place": (
        "Málaga", "Zürich", "Montréal", "São Paulo", "Kraków", "Reykjavík", "Nice", "Kyoto",
    ),
    "topic": (
        "Quantum Physics", "Genetics", "Climate", "Neuroscience", "Mathematics", "Volcanoes",
        "Oceans", "Black Holes", "Time", "Evolution",
    ),
    "dish": ("Crème Brûlée", "Paella", "Ramen", "Sourdough", "Tagine", "Jalapeño Salsa", "Pho"),
    "animal": ("Fox", "Bear", "Otter", "Penguin", "Dragon", "Owl", "Hedgehog"),
}  # fmt: skip
_AUTHOR_FIRST = ("Zoë", "José", "Amélie", "Søren", "Chloé", "Nikolai", "Grace", "Mateo", "Ana")
_AUTHOR_LAST = ("Lindqvist", "Moreau", "Okafor", "García", "Novak", "Brennan", "Müller", "Tanaka")
_UNITS = frozenset({"Hz"})
_MODEL_PREFIXES = ("Q", "X", "S", "Pro ", "Air ", "Max ", "One ", "Mini ", "Z")


def demo_categories() -> tuple[DemoCategory, ...]:
    """The category tree: each department followed by its subcategories."""
    categories: list[DemoCategory] = []
    for department in DEPARTMENTS:
        categories.append(DemoCategory(department.slug, department.name))
        categories.extend(
            DemoCategory(kind.slug, kind.name, department.slug) for kind in department.kinds
        )
    return tuple(categories)


@dataclass
class _Generator:
    rng: random.Random
    names: set[str] = field(default_factory=set)
    slugs: set[str] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=dict)

    def product(self, department: Department, kind: Kind) -> DemoProduct:
        rng = self.rng
        brand = rng.choice(department.brands)
        colour = rng.choice(department.colours) if department.colours else None
        size = rng.choice(kind.sizes) if kind.sizes else None
        attributes: dict[str, Any] = {}
        if department.books:
            author = f"{rng.choice(_AUTHOR_FIRST)} {rng.choice(_AUTHOR_LAST)}"
            name, _ = self._unique(lambda: (_book_title(rng, kind), ""))
            attributes = {"author": author, "publisher": brand, "pages": rng.randint(24, 640)}
            opening = f"{name} by {author}: {rng.choice(kind.pitches)}."
        else:
            name, what = self._unique(lambda: _product_name(rng, brand, kind, colour))
            attributes = {"brand": brand}
            if colour is not None:
                attributes["colour"] = colour
            opening = f"{what} from {brand} {rng.choice(kind.pitches)}."
        if size is not None and kind.size_label is not None:
            attributes[kind.size_label] = size
        sentences = [opening, *rng.sample(department.benefits, 2)]
        if colour is not None:
            sentences.append(f"Colour: {colour}.")
        if size is not None:
            sentences.append(f"{(kind.size_label or 'size').capitalize()}: {size}.")
        sentences.append(rng.choice(SHIPPING[:2] if department.books else SHIPPING))

        low, high = kind.price
        price = rng.randint(low // 100, high // 100) * 100 + rng.choice((99, 99, 99, 0, 49))
        stock = 0 if rng.random() < 0.08 else int(rng.triangular(1, 200, 25))
        draw = rng.random()
        status = (
            ProductStatus.DRAFT
            if draw < 0.05
            else ProductStatus.ARCHIVED
            if draw < 0.08
            else ProductStatus.ACTIVE
        )
        prefix = f"{department.code}-{kind.code}"
        self.counters[prefix] = self.counters.get(prefix, 0) + 1
        sku = f"{prefix}-{self.counters[prefix]:04d}"
        options, variants = _variants(rng, department, kind, sku, price, stock, colour, size)
        return DemoProduct(
            sku=sku,
            options=options,
            variants=variants,
            slug=slugify(name),
            name=name,
            description=" ".join(sentences),
            price=min(max(price, low), high),
            category_slug=kind.slug,
            department=department.code,
            attributes=attributes,
            status=status,
            initial_stock=stock,
            colour=COLOURS[colour] if colour else _book_colour(rng),
        )

    def _unique(self, make: Callable[[], tuple[str, str]]) -> tuple[str, str]:
        """A name (and what comes with it), drawn until neither the name nor its slug
        is taken; after 20 draws a number ends the tie."""
        name, extra = make()
        for _ in range(20):
            if name not in self.names and slugify(name) not in self.slugs:
                break
            name, extra = make()
        base, n = name, 2
        while name in self.names or slugify(name) in self.slugs:
            name, n = f"{base} {n}", n + 1
        self.names.add(name)
        self.slugs.add(slugify(name))
        return name, extra


# Kinds sold in sizes and colours (consecutive sizes around the product's own), and
# laptops in storage capacities, each a step up in price.
_SIZED_KINDS = frozenset({"SHO", "JKT"})
_CAPACITIES = (("256 GB", 0), ("512 GB", 10000), ("1 TB", 25000))


def _variants(
    rng: random.Random,
    department: Department,
    kind: Kind,
    sku: str,
    price: int,
    stock: int,
    colour: str | None,
    size: str | None,
) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], tuple[DemoVariant, ...]]:
    """The options and variants of a product of ``kind`` (none for most kinds)."""
    options: tuple[tuple[str, tuple[str, ...]], ...]
    if kind.code in _SIZED_KINDS and size is not None and colour is not None:
        at = kind.sizes.index(size)
        start = max(0, min(at - 1, len(kind.sizes) - 4))
        sizes = kind.sizes[start : start + 4]
        colours = (colour, rng.choice([c for c in department.colours if c != colour]))
        options = (("Size", sizes), ("Colour", colours))
        combos = [(s, c) for c in colours for s in sizes]
        return options, tuple(
            DemoVariant(
                sku=f"{sku}-{n + 1:02d}",
                options=(("Size", s), ("Colour", c)),
                price=price,
                initial_stock=rng.randint(0, max(1, stock // 3)),
            )
            for n, (s, c) in enumerate(combos)
        )
    if kind.code == "LAP":
        options = (("Storage", tuple(name for name, _ in _CAPACITIES)),)
        return options, tuple(
            DemoVariant(
                sku=f"{sku}-{name.replace(' ', '')}",
                options=(("Storage", name),),
                price=price + extra,
                initial_stock=rng.randint(0, max(1, stock // 2)),
            )
            for name, extra in _CAPACITIES
        )
    return (), ()


def _product_name(
    rng: random.Random, brand: str, kind: Kind, colour: str | None
) -> tuple[str, str]:
    """("Sonora Wireless Noise-Cancelling Headphones Q300", "Wireless noise-cancelling
    headphones"): the name, and what the product is, for its description."""
    count = rng.choice((1, 1, 2))
    picked = sorted(rng.sample(range(len(kind.features)), count))
    what = " ".join([*(kind.features[i] for i in picked), rng.choice(kind.nouns)])
    model = f"{rng.choice(_MODEL_PREFIXES)}{rng.randint(1, 9) * 100 + rng.choice((0, 0, 50))}"
    name = f"{brand} {what} {model}"
    if colour is not None and rng.random() < 0.4:
        name += f", {colour}"
    return name, _in_a_sentence(what)


def _in_a_sentence(words: str) -> str:
    """ "Wireless On-Ear Headphones" -> "Wireless on-ear headphones"; acronyms and
    numbers stay: "4K IPS Monitor" -> "4K IPS monitor"."""
    first, *rest = words.split(" ")

    def lowered(word: str) -> str:
        parts = word.split("-")
        if word in _UNITS or not all(part.istitle() and part.isalpha() for part in parts):
            return word
        return word.lower()

    return " ".join([first, *map(lowered, rest)])


def _book_title(rng: random.Random, kind: Kind) -> str:
    pattern = rng.choice(kind.nouns)
    return pattern.format(**{key: rng.choice(words) for key, words in _BOOK_WORDS.items()})


def _book_colour(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randint(40, 200), rng.randint(40, 200), rng.randint(40, 200))


def demo_catalog(products: int = DEFAULT_PRODUCTS, seed: int = DEFAULT_SEED) -> DemoCatalog:
    """``products`` products over :func:`demo_categories`, the same for the same seed."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets: reproducible on purpose
    kinds = [(department, kind) for department in DEPARTMENTS for kind in department.kinds]
    weights = [kind.weight for _, kind in kinds]
    generator = _Generator(rng)
    items = []
    for _ in range(products):
        department, kind = rng.choices(kinds, weights)[0]
        items.append(generator.product(department, kind))
    return DemoCatalog(demo_categories(), tuple(items))


# --- pictures -----------------------------------------------------------------------
