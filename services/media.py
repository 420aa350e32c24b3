"""User images checked and converted before they go to a provider.

Users send photos and files of any kind; providers take JPEG, PNG or WEBP with their own size rules.
`inspect_image` is the gate: it decides by the decoded format (never the file name), refuses damaged
files, oversized files and decompression bombs with a typed `ImageRejected` whose key is a translated
message, applies the EXIF orientation and re-encodes, so camera metadata (GPS position, serial
numbers) never leaves for a provider. The other functions shape an accepted image for one provider:
an exact frame size, a smaller JPEG after a "too large" answer, or JPEG/PNG for APIs without WEBP.

All functions are pure and blocking (Pillow): call them through `asyncio.to_thread` from handlers.
Only the JPEG, PNG and WEBP decoders ever see user bytes.
"""

from __future__ import annotations

import io
from typing import Literal

from PIL import Image, ImageOps, UnidentifiedImageError

from services.providers.base import InputImage
from services.validation import Problem

#: Pillow format name → MIME type of the formats providers accept.
ACCEPTED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

#: Largest image accepted, in pixels: 40 MP covers 48 MP-class phone photos binned to 12 MP and full-size
#: 8K frames (a JPEG that large is decoded reduced, see MAX_DECODED_BYTES).
MAX_PIXELS = 40_000_000
#: The memory one decode may fill, whatever the pixel count: a 12 MP photo as RGB (Pillow keeps 4 bytes a
#: pixel). A 6320×6320 RGBA PNG of 300 KB would take 160 MB, and re-encoding it three times that. A larger
#: JPEG is decoded at 1/2, 1/4 or 1/8 of its size (libjpeg scales while it decodes); a larger PNG or WEBP
#: cannot be, and is refused before a byte of it is decoded.
MAX_DECODED_BYTES = 50_000_000
#: Smaller images make no usable video frame (and some APIs reject under 300 px anyway).
MIN_SIDE = 64

#: The "retry once with a smaller JPEG" step after a provider answers 413 / "image too large".
SHRINK_MAX_SIDE = 1280
SHRINK_QUALITY = 80

#: Quality for re-encoding an accepted image: visually lossless, still far smaller than a PNG.
REENCODE_QUALITY = 95

#: Translation keys (bot/locales/*/messages.ftl) that `ImageRejected.reason_key` can hold.
REJECTION_KEYS = (
    "error-image-unsupported-format",  # params: format (e.g. "GIF")
    "error-image-corrupt",  # no params: damaged, truncated or not an image at all
    "error-image-too-large",  # params: max_mb
    "error-image-too-many-pixels",  # params: max_megapixels
    "error-image-too-small",  # params: width, height, min
)

#: Formats recognised only to name them in the refusal; their decoders never run.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"WEBP", 8, "WEBP"),
    (b"GIF87a", 0, "GIF"),
    (b"GIF89a", 0, "GIF"),
    (b"BM", 0, "BMP"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"\x00\x00\x01\x00", 0, "ICO"),
    (b"ftypheic", 4, "HEIC"),
    (b"ftypheix", 4, "HEIC"),
    (b"ftypmif1", 4, "HEIC"),
    (b"ftypavif", 4, "AVIF"),
    (b"%PDF", 0, "PDF"),
)

FitMode = Literal["cover", "contain"]
OutputFormat = Literal["JPEG", "PNG"]


class ImageRejected(Exception):
    """The user's image cannot be used; `reason_key` is a translation key, `params` fill its message."""

    def __init__(self, reason_key: str, params: dict[str, str | int] | None = None) -> None:
        super().__init__(reason_key)
        self.reason_key = reason_key
        self.params = dict(params or {})

    @property
    def problem(self) -> Problem:
        """The same shape as validation problems, so the bot renders both alike."""
        return Problem(self.reason_key, self.params)


def sniff_format(data: bytes) -> str | None:
    """The image format the leading bytes announce, without decoding anything."""
    for signature, offset, name in _SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            return name
    return None


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f}".removesuffix(".0")


def inspect_image(
    data: bytes,
    *,
    max_bytes: int,
    max_pixels: int = MAX_PIXELS,
    min_side: int = MIN_SIDE,
    max_decoded_bytes: int = MAX_DECODED_BYTES,
) -> InputImage:
    """Accept a JPEG, PNG or WEBP within the limits, upright and without metadata; else ImageRejected.

    Animated images keep their first frame. The format stays as sent (adapters convert when needed); a
    JPEG over `max_decoded_bytes` comes back smaller.
    """
    if len(data) > max_bytes:
        raise ImageRejected("error-image-too-large", {"max_mb": _megabytes(max_bytes)})
    try:
        image = Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS))
    except Image.DecompressionBombError:
        raise ImageRejected(
            "error-image-too-many-pixels", {"max_megapixels": max_pixels // 1_000_000}
        ) from None
    except UnidentifiedImageError:
        announced = sniff_format(data)
        if announced is None or announced in ACCEPTED_FORMATS:
            raise ImageRejected("error-image-corrupt") from None
        raise ImageRejected("error-image-unsupported-format", {"format": announced}) from None
    except Exception:  # a decoder that fails while reading the header (truncated WEBP: OSError)
        raise ImageRejected("error-image-corrupt") from None
    fmt = image.format or ""
    if image.width * image.height > max_pixels:
        raise ImageRejected("error-image-too-many-pixels", {"max_megapixels": max_pixels // 1_000_000})
    try:
        if fmt == "JPEG":
            _reduce_while_decoding(image, max_decoded_bytes)
        if _decoded_bytes(image.mode, image.size) > max_decoded_bytes:
            within = min(max_pixels, max_decoded_bytes // _decoded_bytes(image.mode, (1, 1)))
            raise ImageRejected("error-image-too-many-pixels", {"max_megapixels": within // 1_000_000})
        image.load()
        ImageOps.exif_transpose(image, in_place=True)  # in place: an upright image is not copied
    except ImageRejected:
        raise
    except Exception:  # any decoder failure on untrusted bytes (OSError, SyntaxError, struct.error ...)
        raise ImageRejected("error-image-corrupt") from None
    if min(image.size) < min_side:
        raise ImageRejected(
            "error-image-too-small", {"width": image.width, "height": image.height, "min": min_side}
        )
    return _encode(image, fmt, quality=REENCODE_QUALITY)


def _decoded_bytes(mode: str, size: tuple[int, int]) -> int:
    """What Pillow allocates for an image of `mode` and `size`: a byte a pixel for bilevel, greyscale and
    palette images, two for 16-bit greyscale, four for the rest (RGB is stored padded to four)."""
    if mode in ("1", "L", "P"):
        per_pixel = 1
    elif mode.startswith("I;16"):
        per_pixel = 2
    else:
        per_pixel = 4
    return size[0] * size[1] * per_pixel


def _reduce_while_decoding(image: Image.Image, max_decoded_bytes: int) -> None:
    """Ask libjpeg for the smallest reduction (1/2, 1/4, 1/8) that fits the budget; it decodes straight
    to that size, so the full-size image never exists in memory."""
    width, height = image.size
    for scale in (1, 2, 4, 8):
        size = (-(-width // scale), -(-height // scale))
        if _decoded_bytes(image.mode, size) <= max_decoded_bytes:
            break
    if scale > 1:
        image.draft(image.mode, size)


def fit_image(
    image: InputImage,
    *,
    width: int,
    height: int,
    mode: FitMode = "cover",
    fmt: OutputFormat = "JPEG",
    quality: int = REENCODE_QUALITY,
) -> InputImage:
    """Exactly `width`×`height`: "cover" crops the centre to fill, "contain" letterboxes in black.

    For APIs that require the frame to match the video size (OpenAI `input_reference`).
    """
    if width < 1 or height < 1:
        raise ValueError(f"target size must be positive, got {width}x{height}")
    source = _flatten(_decode(image)) if fmt == "JPEG" else _rgb_or_rgba(_decode(image))
    if mode == "cover":
        fitted = ImageOps.fit(source, (width, height), method=Image.Resampling.LANCZOS)
    else:
        black = (0, 0, 0, 255) if source.mode == "RGBA" else (0, 0, 0)
        fitted = ImageOps.pad(source, (width, height), method=Image.Resampling.LANCZOS, color=black)
    return _encode(fitted, fmt, quality=quality)


def shrink_jpeg(
    image: InputImage, *, max_side: int = SHRINK_MAX_SIDE, quality: int = SHRINK_QUALITY
) -> InputImage:
    """A smaller JPEG (long side at most `max_side`, never enlarged) for a retry after "too large"."""
    if max_side < 1:
        raise ValueError(f"max_side must be positive, got {max_side}")
    source = _flatten(_decode(image))
    source.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return _encode(source, "JPEG", quality=quality)


def to_jpeg_or_png(image: InputImage, *, quality: int = REENCODE_QUALITY) -> InputImage:
    """For APIs without WEBP: JPEG and PNG pass unchanged; WEBP becomes PNG if it has alpha, else JPEG."""
    if image.mime_type in (ACCEPTED_FORMATS["JPEG"], ACCEPTED_FORMATS["PNG"]):
        return image
    source = _decode(image)
    return _encode(source, "PNG" if _has_alpha(source) else "JPEG", quality=quality)


def _decode(image: InputImage) -> Image.Image:
    """An image `inspect_image` already accepted (so within the limits), fully loaded and upright."""
    decoded = Image.open(io.BytesIO(image.data), formats=list(ACCEPTED_FORMATS))
    decoded.load()
    return ImageOps.exif_transpose(decoded)


def _has_alpha(image: Image.Image) -> bool:
    """Whether any pixel is see-through (an opaque RGBA image needs no alpha channel)."""
    if not image.has_transparency_data:
        return False
    alpha = _to_8bit(image).convert("RGBA").getchannel("A")
    return alpha.getextrema()[0] < 255


def _rgb_or_rgba(image: Image.Image) -> Image.Image:
    """8-bit RGB, or RGBA when the image really has transparency (palette, greyscale, 16-bit too)."""
    return _to_8bit(image).convert("RGBA" if _has_alpha(image) else "RGB")


def _flatten(image: Image.Image) -> Image.Image:
    """RGB for JPEG: transparent areas become white, as viewers show them on a light page."""
    if not _has_alpha(image):
        return _to_8bit(image).convert("RGB")
    rgba = _to_8bit(image).convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit greyscale PNGs scaled to 8 bits; Pillow's convert would clip every value above 255 to white."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        return image.convert("I").point(lambda value: value / 257).convert("L")
    return image


def _encode(image: Image.Image, fmt: str, *, quality: int) -> InputImage:
    """Write `image` as `fmt` without metadata, in a mode that format and every provider accept."""
    out = io.BytesIO()
    if fmt == "JPEG":
        image = _flatten(image)
        image.save(out, "JPEG", quality=quality, optimize=True)
    else:
        image = _rgb_or_rgba(image)
        image.save(out, fmt, **({"quality": quality} if fmt == "WEBP" else {}))
    return InputImage(
        data=out.getvalue(), mime_type=ACCEPTED_FORMATS[fmt], width=image.width, height=image.height
    )
