"""A demo product's picture: a gradient in its colour, its department's shape and
its initials, as a PNG of a few kilobytes."""

from __future__ import annotations

import io
import math
import unicodedata

from PIL import Image, ImageDraw, ImageFont

from shop.cli.demo.departments import DEPARTMENTS
from shop.cli.demo.generator import DemoProduct

IMAGE_SIZE = 400


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
