"""URL slugs from names: "Café Crème 2" becomes "cafe-creme-2"."""

import re
import unicodedata

MAX_LENGTH = 140


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:MAX_LENGTH].rstrip("-") or "item"
