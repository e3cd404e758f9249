"""Turning an uploaded file into a product image: checked, cleaned, thumbnailed.

Everything that looks at the bytes is Pillow's; nothing here decodes by hand.

1. At most ``image_max_bytes`` are read (one more proves the file is too big:
   413). The body limit of the service has usually refused such a request
   before its body was read.
2. Pillow identifies the file by its content, trying only the JPEG, PNG, WebP
   and GIF decoders; the file name and the content type the client sent are
   ignored. Anything else is 415.
3. The pixel count is checked from the header, before any pixel is decoded:
   more than ``image_max_pixels`` is 422 (the problem type
   ``image-dimensions-too-large``). 422 rather than 413 because such a file is
   typically tiny (a 30,000 x 30,000 PNG bomb is a few kilobytes): the request
   is not too large, what it describes cannot be processed. Pillow's own
   decompression bomb error, and the canvas of an animated GIF growing beyond
   the limit frame by frame, give the same answer. For an animation every
   frame counts: the sum over frames is bounded by ``image_max_pixels`` too,
   and there are at most :data:`MAX_FRAMES` frames.
4. The pixels are decoded (a file that fails here is 422 ``image-unreadable``),
   turned upright by their EXIF orientation, and encoded again in the same
   format without any metadata (EXIF with its GPS position, XMP, comments,
   text chunks); only an ICC colour profile is kept, where the colours stay
   in its colour space. GIF and WebP animations stay animated; a multi-picture
   JPEG or an animated PNG keeps its first picture.
5. A thumbnail of the first frame fits within ``thumbnail_size`` square,
   aspect ratio kept, as WebP (alpha kept).

The CPU-heavy part runs in one of :data:`WORKERS` worker threads
(:func:`process_upload`); further uploads wait for a free one, so the memory
that images take is bounded by ``WORKERS`` times what the largest allowed
image needs (two versions of its pixels at the worst moment).
"""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from PIL import Image, UnidentifiedImageError

from shop.kit.errors import PayloadTooLargeError
from shop.products.config import ProductsSettings
from shop.products.errors import ImageDimensionsError, UnreadableImageError, UnsupportedImageError

# Pillow format name -> (content type, file extension) of the stored original.
FORMATS: dict[str, tuple[str, str]] = {
    "JPEG": ("image/jpeg", ".jpg"),
    "MPO": ("image/jpeg", ".jpg"),  # a JPEG with more pictures in it; the first is kept
    "PNG": ("image/png", ".png"),
    "WEBP": ("image/webp", ".webp"),
    "GIF": ("image/gif", ".gif"),
}
DECODERS = ["JPEG", "PNG", "WEBP", "GIF"]
ANIMATED_FORMATS = frozenset({"GIF", "WEBP"})
MAX_FRAMES = 500
WORKERS = 2  # images processed at once, per process

THUMBNAIL_CONTENT_TYPE = "image/webp"
THUMBNAIL_EXTENSION = ".webp"

# EXIF orientation -> the transposition that makes the picture upright.
_ORIENTATION_TAG = 0x0112
_UPRIGHT: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# What survives of a frame's info when it is encoded again: nothing that describes the
# picture's origin, only what the encoders need to draw it the same.
_KEPT_INFO = frozenset({"transparency", "duration", "loop", "background"})


_workers = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="images")


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    max_pixels: int
    thumbnail_size: int

    @classmethod
    def from_settings(cls, settings: ProductsSettings) -> ImageLimits:
        return cls(settings.image_max_bytes, settings.image_max_pixels, settings.thumbnail_size)


@dataclass(frozen=True)
class ProcessedImage:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int
    frames: int
    thumbnail: bytes
    thumbnail_width: int
    thumbnail_height: int
    thumbnail_content_type: str = THUMBNAIL_CONTENT_TYPE
    thumbnail_extension: str = THUMBNAIL_EXTENSION


class Readable(Protocol):
    async def read(self, size: int = -1) -> bytes: ...


async def read_limited(file: Readable, max_bytes: int) -> bytes:
    """The file's bytes; 413 if there are more than ``max_bytes``. Reads at most one more."""
    data = await file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise PayloadTooLargeError(f"The image exceeds {max_bytes} bytes.")
    return data


async def process_upload(data: bytes, limits: ImageLimits) -> ProcessedImage:
    """:func:`process_image` in a worker thread (Pillow releases the GIL while it
    decodes, resizes and encodes). At most :data:`WORKERS` images are processed at
    once per process, which bounds the memory that uploads can take."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_workers, process_image, data, limits)


def process_image(data: bytes, limits: ImageLimits) -> ProcessedImage:
    if len(data) > limits.max_bytes:
        raise PayloadTooLargeError(f"The image exceeds {limits.max_bytes} bytes.")
    try:
        image = Image.open(io.BytesIO(data), formats=DECODERS)
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(limits) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UnsupportedImageError("The file is not a JPEG, PNG, WebP or GIF image.") from exc
    with image:
        source_format = image.format or ""
        if source_format not in FORMATS:  # pragma: no cover - the decoders named make these
            raise UnsupportedImageError("The file is not a JPEG, PNG, WebP or GIF image.")
        _check_pixels(image.size, limits)  # from the header: nothing decoded yet
        try:
            return _process(image, source_format, limits)
        except Image.DecompressionBombError as exc:
            raise _too_many_pixels(limits) from exc
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise UnreadableImageError("The image could not be decoded.") from exc


def _process(image: Image.Image, source_format: str, limits: ImageLimits) -> ProcessedImage:
    icc = image.info.get("icc_profile")
    loop = image.info.get("loop")
    orientation = _orientation(image)
    frames, durations = _decode_frames(image, source_format, limits)
    source_mode = frames[0].mode
    # Each step replaces the frames, so at most two versions of the pixels are alive.
    if orientation in _UPRIGHT:
        frames = [_keep_info(frame.transpose(_UPRIGHT[orientation]), frame) for frame in frames]
    output_format = "JPEG" if source_format == "MPO" else source_format
    frames = [_for_format(frame, output_format) for frame in frames]
    content_type, extension = FORMATS[output_format]
    width, height, count = frames[0].width, frames[0].height, len(frames)
    original = _encode(
        frames, output_format, durations, loop, _icc_for(icc, source_mode, frames[0].mode)
    )
    # The original is encoded: its first frame may now be shrunk in place.
    thumbnail = _thumbnail(frames[0], limits.thumbnail_size)
    del frames
    thumbnail_icc = _icc_for(icc, source_mode, thumbnail.mode)
    return ProcessedImage(
        data=original,
        content_type=content_type,
        extension=extension,
        width=width,
        height=height,
        frames=count,
        thumbnail=_encode([thumbnail], "WEBP", [0], None, thumbnail_icc, quality=82),
        thumbnail_width=thumbnail.width,
        thumbnail_height=thumbnail.height,
    )


def _too_many_pixels(limits: ImageLimits) -> ImageDimensionsError:
    return ImageDimensionsError(f"The image has more than {limits.max_pixels} pixels.")


def _check_pixels(size: tuple[int, int], limits: ImageLimits) -> None:
    width, height = size
    if width * height > limits.max_pixels:
        raise _too_many_pixels(limits)


def _decode_frames(
    image: Image.Image, source_format: str, limits: ImageLimits
) -> tuple[list[Image.Image], list[int]]:
    """Every frame decoded (just the first unless the format keeps animations), each
    checked against the limits *before* it is decoded."""
    frames: list[Image.Image] = []
    durations: list[int] = []
    total_pixels = 0
    while True:
        # A GIF's canvas may grow with a later frame: check the size seeking found.
        _check_pixels(image.size, limits)
        total_pixels += image.width * image.height
        if total_pixels > limits.max_pixels or len(frames) >= MAX_FRAMES:
            raise ImageDimensionsError(
                f"An animation may have at most {MAX_FRAMES} frames and "
                f"{limits.max_pixels} pixels in all its frames."
            )
        image.load()
        durations.append(int(image.info.get("duration", 0) or 0))
        if source_format not in ANIMATED_FORMATS:
            frames.append(_keep_info(image, image))  # the only frame: no copy needed
            break
        frames.append(_keep_info(image.copy(), image))  # seeking reuses the image
        try:
            image.seek(image.tell() + 1)
        except EOFError:
            break
    return frames, durations


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # unreadable EXIF is as good as none
        return 1
    return value if isinstance(value, int) else 1


def _keep_info(frame: Image.Image, source: Image.Image) -> Image.Image:
    frame.info = {key: value for key, value in source.info.items() if key in _KEPT_INFO}
    return frame


def _has_alpha(frame: Image.Image) -> bool:
    return frame.mode in {"RGBA", "LA", "PA", "RGBa", "La"} or "transparency" in frame.info


def _for_format(frame: Image.Image, output_format: str) -> Image.Image:
    """The frame in a mode the encoder of ``output_format`` writes faithfully."""
    mode = frame.mode
    if output_format == "JPEG":
        target = mode if mode in {"L", "RGB", "CMYK"} else "L" if mode == "1" else "RGB"
    elif output_format == "PNG":
        keep = {"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"}
        target = mode if mode in keep else "RGBA" if _has_alpha(frame) else "RGB"
    elif output_format == "WEBP":
        target = "RGBA" if _has_alpha(frame) else "RGB"
    else:  # GIF: its encoder brings any of these to a palette itself
        keep = {"1", "L", "P", "RGB", "RGBA"}
        target = mode if mode in keep else "RGBA" if _has_alpha(frame) else "RGB"
    if target == mode:
        return frame
    return _keep_info(frame.convert(target), frame)


_COLOUR_SPACES = {
    **dict.fromkeys(("RGB", "RGBA", "RGBa", "RGBX", "P", "PA"), "RGB"),
    **dict.fromkeys(("1", "L", "LA", "La", "I", "I;16", "F"), "grey"),
    "CMYK": "CMYK",
}


def _icc_for(icc: Any, source_mode: str, mode: str) -> bytes | None:
    """The ICC profile, if the pixels are still in the colour space it describes."""
    if not isinstance(icc, bytes) or not icc:
        return None
    space = _COLOUR_SPACES.get(source_mode)
    return icc if space is not None and space == _COLOUR_SPACES.get(mode) else None


def _encode(
    frames: list[Image.Image],
    output_format: str,
    durations: list[int],
    loop: Any,
    icc: bytes | None,
    quality: int = 90,
) -> bytes:
    options: dict[str, Any] = {}
    if output_format == "JPEG":
        options = {"quality": quality, "optimize": True, "progressive": True}
    elif output_format == "WEBP":
        options = {"quality": quality, "method": 4}
    if icc is not None and output_format != "GIF":
        options["icc_profile"] = icc
    if len(frames) > 1:
        options.update(save_all=True, append_images=frames[1:], duration=durations)
        if isinstance(loop, int):
            options["loop"] = loop
    out = io.BytesIO()
    frames[0].save(out, format=output_format, **options)
    return out.getvalue()


def _thumbnail(frame: Image.Image, size: int) -> Image.Image:
    """A thumbnail of ``frame``, which may be changed in place."""
    mode = "RGBA" if _has_alpha(frame) else "RGB"
    thumbnail = frame if frame.mode == mode else frame.convert(mode)
    thumbnail.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
    thumbnail.info = {}
    return thumbnail
