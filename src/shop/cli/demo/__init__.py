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

It lives beside the command that uses it (:mod:`shop.cli.seed`), not in the
products service: the service never needs it. Split by concept: the data
(:mod:`.departments`), the generator (:mod:`.generator`), the pictures
(:mod:`.pictures`).
"""

from shop.cli.demo.departments import COLOURS, DEPARTMENTS
from shop.cli.demo.generator import (
    DEFAULT_PRODUCTS,
    DEFAULT_SEED,
    DemoCatalog,
    DemoCategory,
    DemoProduct,
    DemoVariant,
    demo_catalog,
    demo_categories,
)
from shop.cli.demo.pictures import IMAGE_SIZE, demo_image

__all__ = [
    "COLOURS",
    "DEFAULT_PRODUCTS",
    "DEFAULT_SEED",
    "DEPARTMENTS",
    "IMAGE_SIZE",
    "DemoCatalog",
    "DemoCategory",
    "DemoProduct",
    "DemoVariant",
    "demo_catalog",
    "demo_categories",
    "demo_image",
]
