"""Storing uploaded images (checked by content, re-encoded without metadata) and lending them to features."""

from __future__ import annotations

import hashlib
import io
import logging
import secrets
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from flask import current_app
from PIL import Image, ImageCms
from sqlalchemy import select

from server.auth.policy import Principal
from server.db import db
from server.errors import AppError, register_messages
from server.files.models import StoredFile
from server.files.storage import storage

log = logging.getLogger(__name__)

register_messages(
    {
        "FILE_REQUIRED": ("请选择要上传的图片", "Choose an image to upload (multipart field 'file')"),
        "FILE_TOO_LARGE": ("图片过大，请压缩后再上传", "The file is too large"),
        "FILE_TYPE_NOT_ALLOWED": (
            "仅支持 JPEG、PNG、WebP 格式的图片",
            "Only JPEG, PNG and WebP images are accepted",
        ),
        "FILE_INVALID": ("图片已损坏或不完整，无法读取", "The image is damaged or incomplete"),
        "IMAGE_TOO_LARGE": ("图片尺寸过大，无法处理", "The image has too many pixels"),
        "FILE_NOT_FOUND": ("文件不存在", "No such file"),
        "FILE_DUPLICATE": ("同一张图片不能重复添加", "The same file is listed more than once"),
    }
)

# Pixels a JPEG may have: it is decoded through draft() at a reduced scale, so 40 MP costs at most ~30 MB.
MAX_PIXELS = 40_000_000
# PNG and WebP are decoded in full before they are reduced; their cap is FILES_MAX_LOSSLESS_PIXELS (16 MP).
# Above RATIO_FROM_PIXELS such an image must also carry a plausible number of bytes: real screenshots and
# diagrams measure 1-36 pixels per byte (165 PNGs: the console screenshots and Rust's docs, median 13),
# deflate cannot pass ~258 RGBA pixels per byte, and the review's 6320x6320 RGBA PNG of 170 KB is ~235.
# Over MAX_PIXELS_PER_BYTE the file is nearly uniform: a bomb, not a photo.
MAX_PIXELS_PER_BYTE = 100
RATIO_FROM_PIXELS = 4_000_000  # below this a decode costs at most 16 MB whatever the ratio
JPEG_FORMATS = ("JPEG", "MPO")
# Each EXIF orientation's transposition (as ImageOps.exif_transpose), applied after the image is reduced.
ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_slots_lock = threading.Lock()
_slots: dict[int, threading.BoundedSemaphore] = {}


@dataclass(frozen=True)
class ImageFormat:
    """An accepted format: Pillow's name, the MIME type and the extension of the key."""

    pillow: str
    content_type: str
    extension: str


FORMATS = {
    "JPEG": ImageFormat("JPEG", "image/jpeg", "jpg"),
    "PNG": ImageFormat("PNG", "image/png", "png"),
    "WEBP": ImageFormat("WEBP", "image/webp", "webp"),
}
# What Pillow's JPEG, PNG and WebP plugins may name an image, and the format it is stored as. Phones write
# multi-picture JPEGs (MPO: the photo, then previews or a depth map); only the first picture is kept.
STORED_AS = {**FORMATS, "MPO": FORMATS["JPEG"]}
ALLOWED_CONTENT_TYPES = [f.content_type for f in FORMATS.values()]
# Exceptions Pillow raises on malformed input, besides its own UnidentifiedImageError (an OSError).
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error)


def _looks_like_allowed_format(data: bytes) -> bool:
    """True when the first bytes announce JPEG, PNG or WebP (to tell a damaged image from another type)."""
    return (
        data.startswith(b"\xff\xd8\xff")
        or data.startswith(b"\x89PNG\r\n\x1a\n")
        or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")
    )


def _read_limited(source: bytes | IO[bytes], max_bytes: int) -> bytes:
    """Read at most ``max_bytes`` (one more to notice an oversized file) or refuse with 413."""
    data = source[: max_bytes + 1] if isinstance(source, bytes) else source.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise AppError("FILE_TOO_LARGE", status=413, details={"max_bytes": max_bytes})
    return data


def _open(data: bytes, max_lossless_pixels: int) -> Image.Image:
    """Identify the image by its content among the allowed formats only, checking its pixel count."""
    try:
        image = Image.open(io.BytesIO(data), formats=list(FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own guard (89 MP warns, 179 MP fails). The warning is only an exception where
        # warnings are errors (the tests); elsewhere it is logged and our lower limit below refuses.
        # warnings.catch_warnings() would make it uniform but is not thread-safe, so it is not used.
        jpeg = data.startswith(b"\xff\xd8\xff")
        raise _too_many_pixels(MAX_PIXELS if jpeg else max_lossless_pixels) from exc
    except DECODE_ERRORS as exc:
        if _looks_like_allowed_format(data):
            raise AppError("FILE_INVALID", status=422) from exc
        raise _type_not_allowed() from exc
    width, height = image.size
    if width < 1 or height < 1:
        raise AppError("FILE_INVALID", status=422)
    pixels = width * height
    if image.format in JPEG_FORMATS:
        if pixels > MAX_PIXELS:
            raise _too_many_pixels(MAX_PIXELS)
        return image
    if pixels > max_lossless_pixels:
        raise _too_many_pixels(max_lossless_pixels)
    if pixels > RATIO_FROM_PIXELS and pixels > MAX_PIXELS_PER_BYTE * len(data):
        log.info(
            "refusing a %dx%d %s of %d bytes (a decompression bomb)", width, height, image.format, len(data)
        )
        raise AppError("IMAGE_TOO_LARGE", status=422, details={"max_pixels_per_byte": MAX_PIXELS_PER_BYTE})
    return image


def _type_not_allowed() -> AppError:
    return AppError("FILE_TYPE_NOT_ALLOWED", status=415, details={"allowed": ALLOWED_CONTENT_TYPES})


def _too_many_pixels(max_pixels: int) -> AppError:
    return AppError("IMAGE_TOO_LARGE", status=422, details={"max_pixels": max_pixels})


@contextmanager
def decode_slot(slots: int) -> Iterator[None]:
    """Hold one of this process's ``slots`` decode slots (FILES_DECODE_SLOTS): decoded images are big."""
    with _slots_lock:
        semaphore = _slots.get(slots)
        if semaphore is None:
            semaphore = _slots[slots] = threading.BoundedSemaphore(slots)
    with semaphore:
        yield


def _decode(image: Image.Image, max_side: int) -> Image.Image:
    """Decode the pixels (a JPEG at a reduced scale when it will be downscaled anyway)."""
    if image.format in JPEG_FORMATS:
        width, height = image.size
        scale = max(width, height) / max_side
        if scale > 1:
            image.draft(None, (max(1, int(width / scale)), max(1, int(height / scale))))
    try:
        image.load()
    except DECODE_ERRORS as exc:  # truncated data, broken chunks, bad checksums...
        raise AppError("FILE_INVALID", status=422) from exc
    return image


def _orientation(image: Image.Image) -> Image.Transpose | None:
    """The transposition the EXIF orientation asks for; an unreadable EXIF block asks for none."""
    try:
        return ORIENTATIONS.get(int(image.getexif().get(0x0112, 1)))
    except Exception:  # malformed EXIF comes in many shapes; the pixels are still good
        log.warning("ignoring an unreadable EXIF orientation", exc_info=True)
        return None


def _reduced(image: Image.Image, max_side: int) -> Image.Image:
    """Shrink by the largest whole factor keeping the long side at least ``max_side`` (a box filter)."""
    factor = max(image.size) // max_side
    return image.reduce(factor) if factor > 1 else image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _resizable(image: Image.Image) -> Image.Image:
    """Modes that resize smoothly: palette → RGB(A), 1-bit and 16-bit grey → 8-bit grey."""
    if image.mode in ("P", "PA"):
        return image.convert("RGBA" if _has_alpha(image) else "RGB")
    if image.mode == "1":
        return image.convert("L")
    if image.mode.startswith("I"):  # 16/32-bit grey PNG: scale into 0..255 rather than clip, in one copy
        scaled = image.point(lambda value: value / 256, "L")  # "I;16" gives L at once, "I" stays I
        return scaled if scaled.mode == "L" else scaled.convert("L")
    if image.mode in ("L", "RGB") and "transparency" in image.info:
        return image.convert("LA" if image.mode == "L" else "RGBA")
    return image


def _to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Convert colours from the embedded ICC profile to sRGB, since the profile itself is dropped."""
    if icc_profile and image.mode in ("RGB", "RGBA", "CMYK"):
        try:
            converted = ImageCms.profileToProfile(
                image,
                ImageCms.ImageCmsProfile(io.BytesIO(icc_profile)),
                ImageCms.createProfile("sRGB"),
                outputMode="RGBA" if image.mode == "RGBA" else "RGB",
            )
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            log.info("ignoring an unusable ICC profile", exc_info=True)
        else:
            if converted is not None:
                return converted
    # No (usable) profile: the pixels are taken as sRGB; CMYK gets Pillow's plain conversion.
    return image.convert("RGB") if image.mode == "CMYK" else image


def _final_mode(image: Image.Image, fmt: ImageFormat) -> Image.Image:
    """A mode the output format stores: JPEG L/RGB, PNG L/LA/RGB/RGBA, WebP RGB/RGBA."""
    alpha = _has_alpha(image)
    if fmt.pillow == "JPEG":
        target = "L" if image.mode == "L" else "RGB"
    elif fmt.pillow == "PNG" and image.mode in ("L", "LA"):
        target = image.mode
    else:
        target = "RGBA" if alpha else "RGB"
    return image if image.mode == target else image.convert(target)


def _without_metadata(image: Image.Image) -> Image.Image:
    """A fresh image holding only the pixels: no EXIF, XMP, ICC, comments, text chunks or anything else."""
    fresh = Image.new(image.mode, image.size)
    fresh.paste(image)
    return fresh


def _encode(image: Image.Image, fmt: ImageFormat) -> bytes:
    out = io.BytesIO()
    if fmt.pillow == "JPEG":
        image.save(out, "JPEG", quality=88, optimize=True, progressive=True)
    elif fmt.pillow == "PNG":
        image.save(out, "PNG", optimize=True)
    else:
        image.save(out, "WEBP", quality=85, method=4)
    return out.getvalue()


def clean_image(
    data: bytes, max_side: int, max_lossless_pixels: int = 16_000_000, slots: int = 2
) -> tuple[bytes, ImageFormat, tuple[int, int]]:
    """Check ``data`` is an allowed image and re-encode it upright, at most ``max_side``, metadata-free.

    Decoding and encoding hold one of ``slots`` per process; the pixels are reduced before any colour
    conversion, and the full-size decode is released as soon as the reduced copy exists.
    """
    with _open(data, max_lossless_pixels) as source:
        fmt = STORED_AS.get(str(source.format))
        if fmt is None:  # a plugin named a variant we have no encoder for: the type is refused, never a 500
            log.info("refusing an image Pillow reads as %s", source.format)
            raise _type_not_allowed()
        icc_profile = source.info.get("icc_profile")
        with decode_slot(slots):
            image = _resizable(_decode(source, max_side))
            orientation = _orientation(source)
            image = _reduced(image, max_side)
            if image is not source:
                source.close()  # the full-size pixels go now, not when the upload is done
            if orientation is not None:
                image = image.transpose(orientation)
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            image = _final_mode(_to_srgb(image, icc_profile), fmt)
            encoded = _encode(_without_metadata(image), fmt)
        return encoded, fmt, image.size


def store_image(source: bytes | IO[bytes], owner: Principal) -> StoredFile:
    """Check, clean and store an uploaded image for ``owner``; the row is flushed, not committed."""
    config = current_app.config
    data = _read_limited(source, int(config["FILES_MAX_BYTES"]))
    if not data:
        raise AppError("FILE_REQUIRED", status=422)
    encoded, fmt, (width, height) = clean_image(
        data,
        int(config["FILES_MAX_SIDE"]),
        max_lossless_pixels=int(config["FILES_MAX_LOSSLESS_PIXELS"]),
        slots=int(config["FILES_DECODE_SLOTS"]),
    )
    key = f"{secrets.token_urlsafe(18)}.{fmt.extension}"
    storage().save(key, encoded, fmt.content_type)
    stored = StoredFile(
        key=key,
        owner_user_id=owner.user.id if owner.user is not None else None,
        owner_staff_id=owner.staff.id if owner.staff is not None else None,
        content_type=fmt.content_type,
        size_bytes=len(encoded),
        width=width,
        height=height,
        sha256=hashlib.sha256(encoded).hexdigest(),
    )
    db.session.add(stored)
    db.session.flush()
    log.info(
        "stored %s (%s, %dx%d, %d bytes, from %d) for %s:%s",
        key, fmt.content_type, width, height, len(encoded), len(data), owner.kind, owner.id,
    )  # fmt: skip
    return stored


def owned_files(owner_user_id: int, ids: list[int]) -> list[StoredFile]:
    """The user's own files with these ids, in the order given; unknown, foreign or repeated ids refused."""
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise AppError("FILE_DUPLICATE", status=422, details={"ids": duplicates})
    if not ids:
        return []
    found = {
        f.id: f
        for f in db.session.scalars(
            select(StoredFile).where(StoredFile.id.in_(ids), StoredFile.owner_user_id == owner_user_id)
        )
    }
    missing = [i for i in ids if i not in found]
    if missing:
        raise AppError("FILE_NOT_FOUND", status=422, details={"ids": missing})
    return [found[i] for i in ids]


def file_url(file: StoredFile) -> str:
    """The stable public path of a file, relative to the server: ``/files/<key>``."""
    return f"/files/{file.key}"


def find_by_key(key: str) -> StoredFile | None:
    """The file named ``key``, or None."""
    return db.session.scalars(select(StoredFile).where(StoredFile.key == key)).first()
