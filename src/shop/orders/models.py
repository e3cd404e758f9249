"""Tables of ``orders_db``."""

from sqlalchemy.orm import DeclarativeBase

from shop.kit.db import TYPE_ANNOTATION_MAP, new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = TYPE_ANNOTATION_MAP
