"""What a service's models need of the kit: a metadata with stable constraint names
(:func:`new_metadata`) and the column type of timestamps (:data:`TYPE_ANNOTATION_MAP`).

Apart from :mod:`shop.kit.db` (engine, sessions, units of work), so that importing a
service's tables loads SQLAlchemy and nothing of the web app.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, MetaData

# Stable constraint names, so that Alembic migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Timestamps are always stored with their time zone (UTC in, UTC out).
TYPE_ANNOTATION_MAP: dict[Any, Any] = {datetime: DateTime(timezone=True)}


def new_metadata() -> MetaData:
    """Each service declares its tables on a metadata of its own (its ``Base.metadata``)."""
    return MetaData(naming_convention=NAMING_CONVENTION)
