"""A demo catalog for ``shop seed-demo``: categories, products and their pictures.

Pure and deterministic: nothing here touches a database, a clock or the
environment, and :func:`demo_catalog` draws from one ``random.Random(seed)``
in a fixed order, so the same seed gives the same catalog (names, slugs,
SKUs, prices, stock, attributes, statuses) on every machine. A product only
depends on the draws made before it, so a smaller catalog is the beginning
of a larger one: ``--products 60`` and then the default 1,200 add the other
1,140.

The catalog is meant to exercise search and listings: eight departments
with three or four subcategories each, names built from brand-like words,
features, nouns and model numbers ("Sonora Wireless Noise-Cancelling
Headphones Q300"), accented words ("Café Espresso Machine", "Zéphyr",
"Jalapeño Seeds", "Crème"), colours and sizes in the attributes and the
descriptions, prices in minor units in a range that fits each subcategory,
stock from 0 (about one product in twelve) to 200, and a few drafts and
archived products among the active ones.

:func:`demo_image` draws a product's picture: a diagonal gradient in the
product's colour, a shape that depends on its department, and its initials,
as a PNG of a few kilobytes.
"""

from __future__ import annotations

import io
import math
import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from shop.products.models import ProductStatus
from shop.products.slugs import slugify

DEFAULT_SEED = 20261125
DEFAULT_PRODUCTS = 1200
IMAGE_SIZE = 400


@dataclass(frozen=True)
class DemoCategory:
    slug: str
    name: str
    parent_slug: str | None = None


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


@dataclass(frozen=True)
class DemoCatalog:
    categories: tuple[DemoCategory, ...]  # every parent before its children
    products: tuple[DemoProduct, ...]


# --- what the catalog is made of ----------------------------------------------------


@dataclass(frozen=True)
class _Kind:
    """A subcategory and how its products are named, priced and described."""

    code: str  # second part of the SKU
    name: str
    slug: str
    nouns: tuple[str, ...]  # for books: title patterns
    features: tuple[str, ...]  # in the order they read well in a name
    price: tuple[int, int]  # minor units, inclusive
    pitches: tuple[str, ...]
    size_label: str | None = None
    sizes: tuple[str, ...] = ()
    weight: int = 1  # share of the products


@dataclass(frozen=True)
class _Department:
    code: str
    name: str
    slug: str
    brands: tuple[str, ...]
    colours: tuple[str, ...]
    benefits: tuple[str, ...]
    kinds: tuple[_Kind, ...]
    shape: str  # of the picture
    books: bool = False


COLOURS: dict[str, tuple[int, int, int]] = {
    "Black": (38, 38, 42),
    "White": (236, 236, 232),
    "Silver": (176, 180, 186),
    "Space Grey": (92, 96, 104),
    "Midnight Blue": (28, 40, 86),
    "Rose Gold": (214, 160, 150),
    "Crème": (240, 226, 196),
    "Matte Black": (46, 46, 48),
    "Stainless Steel": (190, 192, 194),
    "Sage Green": (150, 174, 140),
    "Cherry Red": (180, 30, 45),
    "Ocean Blue": (30, 110, 170),
    "Neon Yellow": (222, 240, 40),
    "Navy": (30, 42, 80),
    "Forest Green": (40, 90, 55),
    "Orange": (240, 128, 32),
    "Grey": (128, 128, 132),
    "Multicolour": (200, 90, 160),
    "Red": (210, 40, 40),
    "Blue": (40, 90, 210),
    "Yellow": (245, 200, 40),
    "Green": (60, 160, 70),
    "Terracotta": (190, 95, 60),
    "Anthracite": (60, 64, 68),
    "Natural Wood": (180, 140, 95),
    "Camel": (193, 154, 107),
    "Burgundy": (110, 25, 45),
    "Olive": (110, 115, 50),
    "Grey Melange": (150, 150, 155),
}

_SHIPPING = (
    "Ships within two business days.",
    "Free returns within 30 days.",
    "Comes with a two-year warranty.",
    "Carefully packed in recycled cardboard.",
)

DEPARTMENTS: tuple[_Department, ...] = (
    _Department(
        "AUD", "Audio", "audio",
        brands=("Sonora", "Klangwerk", "Aurelia", "Bassline", "Zéphyr", "Nordlys"),
        colours=("Black", "White", "Silver", "Midnight Blue", "Rose Gold", "Crème"),
        benefits=(
            "Bluetooth 5.3 pairs in seconds with phones, tablets and laptops.",
            "Tuned by sound engineers for deep bass and crisp, detailed highs.",
            "A USB-C charge of ten minutes gives hours of playback.",
            "Works with voice assistants and the free companion app.",
        ),
        shape="circle",
        kinds=(
            _Kind("HP", "Headphones", "headphones",
                  ("Headphones", "Over-Ear Headphones", "On-Ear Headphones", "Studio Headphones"),
                  ("Wireless", "Noise-Cancelling", "Bluetooth", "Foldable", "Hi-Res"),
                  (2999, 44999),
                  ("built for long listening sessions", "with soft memory-foam ear cushions",
                   "that shut out the commute"), weight=3),
            _Kind("EB", "Earbuds", "earbuds",
                  ("Earbuds", "True Wireless Earbuds", "Sport Earbuds", "In-Ear Monitors"),
                  ("Wireless", "Noise-Cancelling", "Waterproof", "Compact"),
                  (1999, 29999),
                  ("that stay put on a run", "with a pocket-sized charging case")),
            _Kind("SPK", "Speakers", "speakers",
                  ("Speaker", "Bookshelf Speakers", "Soundbar", "Party Speaker", "Smart Speaker"),
                  ("Portable", "Bluetooth", "Waterproof", "Wi-Fi", "Outdoor"),
                  (2499, 89999),
                  ("that fills a room with sound", "for the garden, the beach and the kitchen"),
                  weight=2),
            _Kind("TT", "Turntables", "turntables",
                  ("Turntable", "Record Player", "Phono Preamp"),
                  ("Belt-Drive", "Direct-Drive", "Bluetooth", "Vintage"),
                  (8999, 69999),
                  ("for a growing vinyl collection", "with a die-cast aluminium platter")),
        ),
    ),
    _Department(
        "CMP", "Computers", "computers",
        brands=("Kestrel", "Lumen", "Byteforge", "Orbis", "Tékhne"),
        colours=("Black", "Silver", "Space Grey", "White"),
        benefits=(
            "USB-C with power delivery charges everything from one cable.",
            "Designed for work, study and a little gaming after hours.",
            "Drivers install themselves on Windows, macOS and Linux.",
            "A sturdy aluminium body that survives the daily commute.",
        ),
        shape="square",
        kinds=(
            _Kind("LAP", "Laptops", "laptops",
                  ("Laptop", "Ultrabook", "Gaming Laptop", "2-in-1 Laptop", "Chromebook"),
                  ("Lightweight", "OLED", "Touchscreen", "Business", "Creator"),
                  (49900, 349900),
                  ("with an all-day battery", "with a bright, colour-accurate display"),
                  "screen", ("13-inch", "14-inch", "15.6-inch", "16-inch"), weight=3),
            _Kind("KB", "Keyboards", "keyboards",
                  ("Mechanical Keyboard", "Keyboard", "Ergonomic Keyboard",
                   "Keyboard and Mouse Set"),
                  ("Wireless", "Backlit", "Low-Profile", "Hot-Swappable", "Tenkeyless"),
                  (2999, 24999),
                  ("with tactile, quiet switches", "that types as well as it looks"),
                  "layout", ("US", "UK", "DE", "FR AZERTY"), weight=2),
            _Kind("MON", "Monitors", "monitors",
                  ("Monitor", "Curved Monitor", "Portable Monitor", "Gaming Monitor"),
                  ("4K", "IPS", "144 Hz", "USB-C", "Ultrawide"),
                  (12999, 129999),
                  ("with slim bezels for multi-screen desks", "with a height-adjustable stand"),
                  "screen", ("24-inch", "27-inch", "32-inch", "34-inch"), weight=2),
            _Kind("MS", "Mice", "mice",
                  ("Mouse", "Gaming Mouse", "Trackball", "Vertical Mouse"),
                  ("Wireless", "Silent", "Rechargeable", "Ergonomic"),
                  (1499, 14999),
                  ("that fits the hand for hours", "with a precise 16,000 DPI sensor")),
        ),
    ),
    _Department(
        "HOM", "Home & Kitchen", "home-kitchen",
        brands=("Maison Brûlée", "Kitchenhaus", "Olla & Co", "Crème", "Ferro"),
        colours=(
            "Matte Black", "Stainless Steel", "Crème", "Sage Green", "Cherry Red", "Ocean Blue",
        ),
        benefits=(
            "Dishwasher-safe parts make cleaning up quick.",
            "Made from food-safe materials, free of PFAS and BPA.",
            "Great for a café au lait on Sunday or a crème brûlée for guests.",
            "Backed by our kitchen team's tips and recipes.",
        ),
        shape="diamond",
        kinds=(
            _Kind("COF", "Coffee", "coffee",
                  ("Espresso Machine", "Burr Grinder", "Pour-Over Kettle", "French Press",
                   "Moka Pot", "Milk Frother", "Drip Coffee Maker"),
                  ("Café", "Barista", "Compact", "Programmable", "Dual-Boiler", "Stainless"),
                  (1999, 129999),
                  ("for café-quality coffee at home", "that brews a rich, smooth cup"),
                  weight=3),
            _Kind("CKW", "Cookware", "cookware",
                  ("Frying Pan", "Dutch Oven", "Saucepan Set", "Wok", "Stockpot", "Skillet"),
                  ("Non-Stick", "Cast-Iron", "Enamelled", "Induction-Ready", "Stainless"),
                  (1999, 34999),
                  ("that heats evenly on every hob", "from the stove top to the oven"),
                  "size", ("20 cm", "24 cm", "28 cm", "5 L"), weight=2),
            _Kind("TBL", "Tableware", "tableware",
                  ("Dinner Set", "Pasta Bowls", "Espresso Cups", "Wine Glasses",
                   "Serving Platter"),
                  ("Porcelain", "Stoneware", "Hand-Glazed", "Crystal", "Rustic"),
                  (1499, 19999),
                  ("for everyday meals and festive dinners", "that stacks neatly in a cupboard")),
        ),
    ),
    _Department(
        "SPO", "Sports & Outdoors", "sports-outdoors",
        brands=("Trailhead", "Summitline", "Velo", "Aérole", "Fjordwear"),
        colours=("Black", "Neon Yellow", "Navy", "Forest Green", "Orange", "Grey"),
        benefits=(
            "Tested on alpine trails and city streets alike.",
            "Recycled fabrics and PFC-free water repellency.",
            "Light enough to forget you are carrying it.",
            "Reflective details keep you visible after dark.",
        ),
        shape="triangle",
        kinds=(
            _Kind("RUN", "Running", "running",
                  ("Running Shoes", "Trail Running Shoes", "Running Vest", "Running Shorts"),
                  ("Lightweight", "Waterproof", "Cushioned", "Reflective", "Breathable"),
                  (2499, 18999),
                  ("for your next personal best", "with a grippy, durable outsole"),
                  "size", ("EU 38", "EU 40", "EU 42", "EU 44", "EU 46"), weight=2),
            _Kind("CYC", "Cycling", "cycling",
                  ("Bike Helmet", "Bike Light Set", "Cycling Jersey", "Bike Lock", "Saddle Bag"),
                  ("Aero", "Reflective", "Lightweight", "Rechargeable"),
                  (1499, 24999),
                  ("for the daily commute and the weekend ride", "that clips on in seconds"),
                  "size", ("S", "M", "L")),
            _Kind("CAM", "Camping", "camping",
                  ("Tent", "Sleeping Bag", "Camping Stove", "Headlamp", "Backpack"),
                  ("2-Person", "Ultralight", "Waterproof", "4-Season", "Insulated"),
                  (1999, 59999),
                  ("for nights under the stars", "that packs down to almost nothing"),
                  weight=2),
            _Kind("YOG", "Yoga", "yoga",
                  ("Yoga Mat", "Yoga Block", "Resistance Bands", "Foam Roller"),
                  ("Non-Slip", "Eco", "Extra-Thick", "Cork"),
                  (999, 8999),
                  ("for a steady practice at home or in the studio",
                   "that cushions knees and wrists")),
        ),
    ),
    _Department(
        "BOK", "Books", "books",
        brands=("Penrose Press", "Éditions Lumière", "Harbour Books", "Quill & Ink"),
        colours=(),
        benefits=(
            "A favourite of booksellers and reading groups.",
            "Printed on responsibly sourced paper.",
            "Shortlisted for several prizes in its year.",
        ),
        shape="book",
        books=True,
        kinds=(
            _Kind("FIC", "Fiction", "fiction",
                  ("The {adj} {thing}", "The {thing} of {place}", "A Summer in {place}",
                   "The Last {thing}"),
                  (), (899, 3499),
                  ("a novel of secrets, family and second chances",
                   "a sweeping story told across three generations"),
                  "format", ("Hardcover", "Paperback"), weight=3),
            _Kind("CKB", "Cookbooks", "cookbooks",
                  ("The {adj} Kitchen", "Cooking in {place}", "{dish} and Other Recipes",
                   "A Year of {dish}", "{dish} from {place}", "The {place} Table",
                   "Sunday {dish}"),
                  (), (1499, 4499),
                  ("over a hundred recipes for every season",
                   "simple, generous food from a small kitchen"),
                  "format", ("Hardcover", "Paperback"), weight=2),
            _Kind("SCI", "Science", "science",
                  ("A Short History of {topic}", "{topic} for the Curious",
                   "Understanding {topic}", "The Story of {topic}",
                   "A Gentle Introduction to {topic}"),
                  (), (1299, 3999),
                  ("big ideas explained without the jargon",
                   "the latest research for curious readers"),
                  "format", ("Hardcover", "Paperback")),
            _Kind("KID", "Children's Books", "childrens-books",
                  ("The {adj} {animal}", "{animal} Goes to {place}", "Goodnight, {animal}"),
                  (), (599, 1999),
                  ("a picture book to read aloud at bedtime", "a funny story for ages 3 to 7"),
                  "format", ("Hardcover", "Board Book")),
        ),
    ),
    _Department(
        "TOY", "Toys & Games", "toys-games",
        brands=("Blockbright", "Tiny Titans", "Puzzlewerk", "Jouet", "Kaleido"),
        colours=("Multicolour", "Red", "Blue", "Yellow", "Green"),
        benefits=(
            "Tested for safety to EN 71 and free of harmful chemicals.",
            "Hours of screen-free fun for the whole family.",
            "Makes a great birthday or holiday gift.",
        ),
        shape="star",
        kinds=(
            _Kind("BRD", "Board Games", "board-games",
                  ("Board Game", "Strategy Game", "Card Game", "Party Game", "Chess Set"),
                  ("Family", "Cooperative", "Travel", "Deluxe", "Classic"),
                  (1499, 7999),
                  ("for game night with friends", "that is easy to learn and hard to master"),
                  "players", ("2-4 players", "2-6 players", "1-5 players"), weight=2),
            _Kind("BLD", "Building Sets", "building-sets",
                  ("Building Set", "Construction Kit", "Marble Run", "Robot Kit"),
                  ("Creative", "Space", "City", "Castle", "Programmable"),
                  (1999, 14999),
                  ("for budding engineers", "with step-by-step illustrated instructions"),
                  "pieces", ("250 pieces", "500 pieces", "1,000 pieces"), weight=2),
            _Kind("PUZ", "Puzzles", "puzzles",
                  ("Jigsaw Puzzle", "3D Puzzle", "Brain Teaser", "Puzzle Box"),
                  ("Panorama", "Wooden", "Glow-in-the-Dark", "Château"),
                  (999, 4999),
                  ("for quiet evenings", "with a poster of the finished picture"),
                  "pieces", ("500 pieces", "1,000 pieces", "2,000 pieces")),
            _Kind("PLU", "Plush Toys", "plush-toys",
                  ("Plush Bear", "Plush Fox", "Cuddly Dragon", "Soft Toy Bunny"),
                  ("Giant", "Organic", "Weighted", "Mini"),
                  (999, 5999),
                  ("to cuddle from the very first day", "that survives the washing machine")),
        ),
    ),
    _Department(
        "GDN", "Garden", "garden",
        brands=("Greenthumb", "Jardin Élégant", "Terra", "Rootstock"),
        colours=("Green", "Terracotta", "Anthracite", "Natural Wood"),
        benefits=(
            "Built to last season after season outdoors.",
            "Our gardeners' pick for balconies and allotments alike.",
            "Rust-proof and UV-resistant.",
        ),
        shape="flower",
        kinds=(
            _Kind("TLS", "Garden Tools", "garden-tools",
                  ("Pruning Shears", "Hedge Trimmer", "Garden Hose", "Lawn Mower", "Leaf Blower",
                   "Trowel Set"),
                  ("Cordless", "Ergonomic", "Telescopic", "Heavy-Duty", "Electric"),
                  (999, 49999),
                  ("that makes light work of the weekend jobs", "with a comfortable soft grip"),
                  weight=2),
            _Kind("PLT", "Plants & Seeds", "plants-seeds",
                  ("Herb Seed Kit", "Tomato Seeds", "Jalapeño Seeds", "Olive Tree",
                   "Lavender Plant", "Succulent Set", "Bulb Collection"),
                  ("Organic", "Heirloom", "Potted", "Starter", "Perennial"),
                  (299, 7999),
                  ("for a greener windowsill", "with easy growing instructions")),
            _Kind("FUR", "Outdoor Furniture", "outdoor-furniture",
                  ("Garden Bench", "Bistro Set", "Lounge Chair", "Parasol", "Hammock"),
                  ("Teak", "Foldable", "Weatherproof", "Rattan", "Café"),
                  (4999, 89999),
                  ("for long summer evenings", "that folds away for the winter")),
        ),
    ),
    _Department(
        "FSH", "Fashion", "fashion",
        brands=("Maison Élise", "Northbound", "Atelier Noé", "Urbanthread", "Señorita"),
        colours=("Black", "White", "Navy", "Camel", "Burgundy", "Olive", "Crème", "Grey Melange"),
        benefits=(
            "Cut for a relaxed, true-to-size fit.",
            "Made in Portugal from certified materials.",
            "Free size exchanges within 60 days.",
            "A timeless piece that goes with everything.",
        ),
        shape="hexagon",
        kinds=(
            _Kind("SHO", "Shoes", "shoes",
                  ("Sneakers", "Leather Boots", "Loafers", "Sandals", "Chelsea Boots"),
                  ("Classic", "Vegan Leather", "Suede", "Everyday", "Waterproof"),
                  (3999, 24999),
                  ("that are comfortable from the first step", "with a cushioned cork footbed"),
                  "size", ("EU 36", "EU 38", "EU 40", "EU 42", "EU 44", "EU 46"), weight=2),
            _Kind("JKT", "Jackets", "jackets",
                  ("Rain Jacket", "Puffer Jacket", "Denim Jacket", "Wool Coat", "Bomber Jacket"),
                  ("Lightweight", "Recycled", "Waterproof", "Quilted", "Oversized"),
                  (4999, 39999),
                  ("for unpredictable weather", "that layers easily over a jumper"),
                  "size", ("XS", "S", "M", "L", "XL", "XXL"), weight=2),
            _Kind("BAG", "Bags", "bags",
                  ("Backpack", "Tote Bag", "Crossbody Bag", "Weekender Bag", "Laptop Sleeve"),
                  ("Leather", "Canvas", "Water-Resistant", "Minimalist", "Travel"),
                  (1999, 24999),
                  ("with room for a laptop and a lunch", "that ages beautifully")),
            _Kind("ACC", "Accessories", "accessories",
                  ("Scarf", "Beanie", "Leather Belt", "Sunglasses", "Wallet"),
                  ("Merino", "Cashmere", "Polarised", "Slim", "Handmade"),
                  (999, 14999),
                  ("that finishes any outfit", "made to be worn every day")),
        ),
    ),
)  # fmt: skip

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

    def product(self, department: _Department, kind: _Kind) -> DemoProduct:
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
        sentences.append(rng.choice(_SHIPPING[:2] if department.books else _SHIPPING))

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
        return DemoProduct(
            sku=f"{prefix}-{self.counters[prefix]:04d}",
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


def _product_name(
    rng: random.Random, brand: str, kind: _Kind, colour: str | None
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


def _book_title(rng: random.Random, kind: _Kind) -> str:
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


def _initials(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = [word for word in plain.replace("-", " ").split() if word[:1].isalnum()]
    return "".join(word[0] for word in words[:2]).upper() or "?"


def _shade(colour: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    """Lighter (factor > 0, towards white) or darker (factor < 0, towards black)."""
    if factor >= 0:
        return tuple(round(c + (255 - c) * factor) for c in colour)  # type: ignore[return-value]
    return tuple(round(c * (1 + factor)) for c in colour)  # type: ignore[return-value]


def _shape(draw: ImageDraw.ImageDraw, shape: str, size: int, fill: tuple[int, int, int]) -> None:
    c, r = size / 2, size * 0.3
    if shape == "circle":
        draw.ellipse((c - r, c - r, c + r, c + r), fill=fill)
    elif shape == "square":
        draw.rounded_rectangle((c - r, c - r, c + r, c + r), radius=size * 0.06, fill=fill)
    elif shape == "book":
        draw.rounded_rectangle((c - r * 0.75, c - r, c + r * 0.75, c + r), radius=6, fill=fill)
    elif shape == "flower":
        petal = r * 0.45
        for i in range(6):
            x = c + (r - petal) * math.cos(i * math.pi / 3)
            y = c + (r - petal) * math.sin(i * math.pi / 3)
            draw.ellipse((x - petal, y - petal, x + petal, y + petal), fill=fill)
        draw.ellipse((c - petal, c - petal, c + petal, c + petal), fill=fill)
    elif shape == "star":
        points = [
            (
                c + (r * 1.2 if i % 2 == 0 else r * 0.55) * math.sin(i * math.pi / 5),
                c - (r * 1.2 if i % 2 == 0 else r * 0.55) * math.cos(i * math.pi / 5),
            )
            for i in range(10)
        ]
        draw.polygon(points, fill=fill)
    else:
        sides, rotation = {"diamond": (4, 45), "triangle": (3, 0), "hexagon": (6, 0)}[shape]
        draw.regular_polygon((c, c, r * 1.15), sides, rotation=rotation, fill=fill)


def demo_image(product: DemoProduct, size: int = IMAGE_SIZE) -> bytes:
    """The product's picture as PNG bytes: the same product gives the same picture."""
    department = next(d for d in DEPARTMENTS if d.code == product.department)
    light, dark = _shade(product.colour, 0.55), _shade(product.colour, -0.25)
    # Top to bottom: every row one colour, which PNG compresses to almost nothing.
    mask = Image.linear_gradient("L").resize((size, size))
    image = Image.composite(
        Image.new("RGB", (size, size), dark), Image.new("RGB", (size, size), light), mask
    )
    draw = ImageDraw.Draw(image)
    _shape(draw, department.shape, size, _shade(product.colour, 0.85))
    font = ImageFont.load_default(size=size // 5)
    draw.text((size / 2, size / 2), _initials(product.name), font=font, fill=dark, anchor="mm")
    out = io.BytesIO()
    # Fast rather than small: as an upload would be, it is encoded again before it is stored.
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()
