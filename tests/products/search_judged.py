"""The judged query set: what a shopper types, and which demo products they expect in
the first ten (pure: no database, no pytest; `make bench` uses it too).

Each query has an *intent*: the words the shopper means, spelt right. The judge
reads the demo catalog (:func:`shop.cli.demo.demo_catalog`, deterministic) and
grades every active product against it:

- 2: every word of the intent is in the product's name or its category's name;
- 1: every word is somewhere in its text (name, category, description);
- 0: otherwise.

An intent with ``|`` names alternatives (words that never meet in one product:
a product matching either is what a person expects, since nothing matches both),
and ``sku:X`` means that one product. A word matches the product's word itself
or its plural (``shoe`` matches ``shoes``), after case and accent folding.

The products a person expects in the first ten are those of grade 2, or of grade
1 when none has 2. Recall@10 is the share of the first ten that are expected, of
as many as could be there (``min(10, expected)``); nDCG@10 uses the grades as
gains (``2**grade - 1``) against the ideal order.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shop.cli.demo import DemoCatalog
from shop.products.models import ProductStatus

# The catalog the tests load (`shop seed-demo`'s default size, same seed).
JUDGED_CATALOG_SIZE = 1200
TOP = 10

# (kind of query, what is typed, what is meant)
JUDGED_QUERIES: tuple[tuple[str, str, str], ...] = (
    # exact words
    ("exact", "headphones", "headphones"),
    ("exact", "earbuds", "earbuds"),
    ("exact", "turntable", "turntable"),
    ("exact", "laptop", "laptop"),
    ("exact", "keyboard", "keyboard"),
    ("exact", "monitor", "monitor"),
    ("exact", "espresso machine", "espresso machine"),
    ("exact", "skillet", "skillet"),
    ("exact", "hammock", "hammock"),
    ("exact", "sunglasses", "sunglasses"),
    ("exact", "beanie", "beanie"),
    ("exact", "lavender", "lavender"),
    ("exact", "chromebook", "chromebook"),
    # one typo
    ("typo", "headphnes", "headphones"),
    ("typo", "wireles", "wireless"),
    ("typo", "speker", "speaker"),
    ("typo", "runing shoes", "running shoes"),
    ("typo", "laptp", "laptop"),
    ("typo", "moniter", "monitor"),
    ("typo", "espreso", "espresso"),
    ("typo", "backpak", "backpack"),
    ("typo", "hamock", "hammock"),
    ("typo", "sunglases", "sunglasses"),
    ("typo", "skilet", "skillet"),
    ("typo", "lavendar", "lavender"),
    ("typo", "turntabel", "turntable"),
    ("typo", "puzle", "puzzle"),
    ("typo", "frech press", "french press"),
    # two typos
    ("typos2", "headfones", "headphones"),
    ("typos2", "mechancal keybord", "mechanical keyboard"),
    ("typos2", "espresso machien", "espresso machine"),
    ("typos2", "sleping bga", "sleeping bag"),
    ("typos2", "restistance bnads", "resistance bands"),
    ("typos2", "turntbale", "turntable"),
    ("typos2", "chromboko", "chromebook"),
    ("typos2", "wireles headphnes", "wireless headphones"),
    # transpositions
    ("transposition", "keybaord", "keyboard"),
    ("transposition", "laptpo", "laptop"),
    ("transposition", "monitro", "monitor"),
    ("transposition", "hedaphones", "headphones"),
    ("transposition", "speakre", "speaker"),
    ("transposition", "sandlas", "sandals"),
    ("transposition", "scraf", "scarf"),
    # prefixes, as typed
    ("prefix", "headph", "headphones"),
    ("prefix", "wirel", "wireless"),
    ("prefix", "espres", "espresso"),
    ("prefix", "mechan", "mechanical"),
    ("prefix", "sourdo", "sourdough"),
    ("prefix", "hamm", "hammock"),
    ("prefix", "turnt", "turntable"),
    ("prefix", "noise canc", "noise cancelling"),
    ("prefix", "trail runn", "trail running"),
    ("prefix", "cast ir", "cast iron"),
    # several words
    ("words", "wireless noise cancelling headphones", "wireless noise cancelling headphones"),
    ("words", "cast iron skillet", "cast iron skillet"),
    ("words", "trail running shoes", "trail running shoes"),
    ("words", "bluetooth speaker", "bluetooth speaker"),
    ("words", "gaming laptop", "gaming laptop"),
    ("words", "ergonomic keyboard", "ergonomic keyboard"),
    ("words", "pour over kettle", "pour over kettle"),
    ("words", "sleeping bag", "sleeping bag"),
    ("words", "board game", "board game"),
    ("words", "dutch oven", "dutch oven"),
    ("words", "leather boots", "leather boots"),
    ("words", "yoga mat", "yoga mat"),
    # words that never meet in one product
    ("apart", "wireless speaker", "wireless|speaker"),
    ("apart", "leather headphones", "leather|headphones"),
    ("apart", "waterproof laptop", "waterproof|laptop"),
    ("apart", "cork skillet", "cork|skillet"),
    ("apart", "gaming espresso", "gaming|espresso"),
    ("apart", "kyoto headphones", "kyoto|headphones"),
    # SKUs
    ("sku", "AUD-HP-0007", "sku:AUD-HP-0007"),
    ("sku", "cmp-lap-0012", "sku:CMP-LAP-0012"),
    ("sku", "HOM-COF-0020", "sku:HOM-COF-0020"),
    ("sku", "SPO-CAM-0006", "sku:SPO-CAM-0006"),
    ("sku", "bok-fic-0030", "sku:BOK-FIC-0030"),
    # accents, and their absence
    ("accents", "cafe", "cafe"),
    ("accents", "café", "cafe"),
    ("accents", "creme brulee", "creme brulee"),
    ("accents", "crème brûlée", "creme brulee"),
    ("accents", "zephyr", "zephyr"),
    ("accents", "jalapeno", "jalapeno"),
    ("accents", "Jalapeño", "jalapeno"),
    ("accents", "krakow", "krakow"),
    ("accents", "chateau", "chateau"),
    ("accents", "montreal", "montreal"),
    ("accents", "maison elise", "maison elise"),
    # plural and singular
    ("number", "headphone", "headphones"),
    ("number", "earbud", "earbuds"),
    ("number", "shoe", "shoes"),
    ("number", "speakers", "speaker"),
    ("number", "laptops", "laptop"),
    ("number", "tents", "tent"),
    ("number", "boot", "boots"),
    ("number", "wine glass", "wine glasses"),
    # brand plus type
    ("brand", "sonora headphones", "sonora headphones"),
    ("brand", "kestrel laptop", "kestrel laptop"),
    ("brand", "trailhead backpack", "trailhead backpack"),
    ("brand", "kitchenhaus burr grinder", "kitchenhaus burr grinder"),
    ("brand", "blockbright building set", "blockbright building set"),
    ("brand", "zephyr speaker", "zephyr speaker"),
    ("brand", "nordlys headphones", "nordlys headphones"),
    ("brand", "velo bike helmet", "velo bike helmet"),
    ("brand", "atelier noe jacket", "atelier noe jacket"),
)

_WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> list[str]:
    """Words, lowercased and without accents (as a shopper reads them)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.category(c).startswith("M"))
    return _WORD.findall(plain)


def _has(words: set[str], wanted: str) -> bool:
    return any(form in words for form in (wanted, wanted + "s", wanted + "es"))


@dataclass(frozen=True)
class JudgedQuery:
    kind: str
    q: str
    intent: str
    grades: dict[str, int]  # SKU -> grade (1 or 2), over the active products

    @property
    def expected(self) -> set[str]:
        """The SKUs a person expects among the first ten."""
        best = max(self.grades.values(), default=0)
        return {sku for sku, grade in self.grades.items() if grade == best}

    def recall(self, skus: Sequence[str]) -> float:
        expected = self.expected
        if not expected:
            return 1.0
        found = sum(1 for sku in skus[:TOP] if sku in expected)
        return found / min(TOP, len(expected))

    def ndcg(self, skus: Sequence[str]) -> float:
        ideal = sorted(self.grades.values(), reverse=True)[:TOP]
        if not ideal:
            return 1.0
        best = _dcg(ideal)
        return _dcg([self.grades.get(sku, 0) for sku in skus[:TOP]]) / best


def _dcg(grades: Iterable[int]) -> float:
    return sum((2**grade - 1) / math.log2(rank + 2) for rank, grade in enumerate(grades))


def judge(catalog: DemoCatalog) -> list[JudgedQuery]:
    """Every judged query, graded against ``catalog``'s active products."""
    category_names = {category.slug: category.name for category in catalog.categories}
    products = [
        (
            product.sku,
            set(fold(product.name)) | set(fold(category_names[product.category_slug])),
            set(fold(product.description)),
        )
        for product in catalog.products
        if product.status is ProductStatus.ACTIVE
    ]
    judged = []
    for kind, q, intent in JUDGED_QUERIES:
        grades: dict[str, int] = {}
        if intent.startswith("sku:"):
            wanted_sku = intent.removeprefix("sku:")
            grades = {sku: 2 for sku, _, _ in products if sku == wanted_sku}
        else:
            alternatives = [fold(alternative) for alternative in intent.split("|")]
            for sku, named, described in products:
                grade = 0
                for words in alternatives:
                    if all(_has(named, word) for word in words):
                        grade = 2
                    elif grade < 1 and all(_has(named | described, word) for word in words):
                        grade = 1
                if grade:
                    grades[sku] = grade
        judged.append(JudgedQuery(kind, q, intent, grades))
    return judged


@dataclass(frozen=True)
class Scores:
    queries: int
    recall: float  # mean recall@10
    ndcg: float  # mean nDCG@10
    zero_results: float  # share of queries with no result at all
    empty_but_expected: list[str]  # queries that found nothing though products match
    worst: list[tuple[str, float]]  # (query, recall@10) under the floor, worst first


RECALL_FLOOR = 0.9


def score(judged: Sequence[JudgedQuery], answers: dict[str, Sequence[str]]) -> Scores:
    """The judged set's figures for ``answers``: the SKUs of the first page, by query."""
    recalls = [query.recall(answers[query.q]) for query in judged]
    return Scores(
        queries=len(judged),
        recall=sum(recalls) / len(judged),
        ndcg=sum(query.ndcg(answers[query.q]) for query in judged) / len(judged),
        zero_results=sum(1 for query in judged if not answers[query.q]) / len(judged),
        empty_but_expected=[query.q for query in judged if query.expected and not answers[query.q]],
        worst=sorted(
            ((query.q, r) for query, r in zip(judged, recalls, strict=True) if r < RECALL_FLOOR),
            key=lambda pair: pair[1],
        ),
    )
