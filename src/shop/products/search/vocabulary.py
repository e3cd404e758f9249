"""The search vocabulary: every word of the catalog's text, for typo correction.

``search_vocabulary`` holds each word (unaccented, lowercased, letters only, three
or more) that a product's name or description or a category's name has ever had.
Triggers of the migration ``5b7e2c9d41a3`` add the words of every insert and of
every update that changes that text; words are never removed (a word no product
has any more costs a row and corrects to nothing that matches), so the table only
grows with new words, not with products: the demo catalog has about 1,000.

A search looks its words up here (one statement, by index): a word the catalog
has, or for the last word a prefix of one, is taken as typed; any other is
corrected to the catalog words within its typo budget (see ``postgres.py``).
The trigram GiST index serves the nearest words by trigram distance (``<->``),
and the C collation lets the primary key's btree serve prefix lookups (``LIKE
'word%'``). The in-process index keeps the whole vocabulary and does the same
lookups itself (``mem_words``), following new words by ``added_at``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from shop.products.models import Base


class SearchWord(Base):
    __tablename__ = "search_vocabulary"

    word: Mapped[str] = mapped_column(Text(collation="C"), primary_key=True)
    # The start of the transaction that added it: the in-process index reads the words
    # added since its previous catch-up (shop.products.search.mem_keeper).
    added_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )

    __table_args__ = (
        Index(
            "ix_search_vocabulary_word_trgm",
            "word",
            postgresql_using="gist",
            postgresql_ops={"word": "gist_trgm_ops"},
        ),
    )
