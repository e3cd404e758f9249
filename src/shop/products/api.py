"""Routes of the products service, under ``/api/v1``."""

from fastapi import APIRouter
from sqlalchemy import select

from shop.kit.db import Session
from shop.products.models import Category
from shop.products.schemas import CategoryList, CategoryOut

router = APIRouter(prefix="/api/v1", tags=["catalog"])


@router.get("/categories", summary="Every category, as a flat list with parent ids")
async def list_categories(session: Session) -> CategoryList:
    categories = await session.scalars(select(Category).order_by(Category.name))
    return CategoryList(items=[CategoryOut.model_validate(c) for c in categories])
