"""Storing uploaded images (checked by content, re-encoded without metadata) and lending them to features."""

from __future__ import annotations

import hashlib
import io
import logging
import secrets
import struct
from dataclasses import dataclass
from typing import IO

from flask import current_app
from PIL import Image, ImageCms, ImageOps
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

# Decoded pixels we are willing to hold in memory for one upload (a 40 MP RGB image is ~120 MB).
MAX_PIXELS = 40_000_000


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


def _open(data: bytes) -> Image.Image:
    """Identify the image by its content among the allowed formats only, checking its pixel count."""
    try:
        image = Image.open(io.BytesIO(data), formats=list(FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own guard (89 MP warns, 179 MP fails). The warning is only an exception where
        # warnings are errors (the tests); elsewhere it is logged and our lower limit below refuses.
        # warnings.catch_warnings() would make it uniform but is not thread-safe, so it is not used.
        raise _too_many_pixels() from exc
    except DECODE_ERRORS as exc:
        if _looks_like_allowed_format(data):
            raise AppError("FILE_INVALID", status=422) from exc
        raise _type_not_allowed() from exc
    width, height = image.size
    if width < 1 or height < 1:
        raise AppError("FILE_INVALID", status=422)
    if width * height > MAX_PIXELS:
        raise _too_many_pixels()
    return image


def _type_not_allowed() -> AppError:
    return AppError("FILE_TYPE_NOT_ALLOWED", status=415, details={"allowed": ALLOWED_CONTENT_TYPES})


def _too_many_pixels() -> AppError:
    return AppError("IMAGE_TOO_LARGE", status=422, details={"max_pixels": MAX_PIXELS})


def _decode(image: Image.Image, max_side: int) -> Image.Image:
    """Decode the pixels (a JPEG at a reduced scale when it will be downscaled anyway)."""
    if image.format in ("JPEG", "MPO"):
        width, height = image.size
        scale = max(width, height) / max_side
        if scale > 1:
            image.draft(None, (max(1, int(width / scale)), max(1, int(height / scale))))
    try:
        image.load()
    except DECODE_ERRORS as exc:  # truncated data, broken chunks, bad checksums...
        raise AppError("FILE_INVALID", status=422) from exc
    return image


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; an unreadable EXIF block leaves the pixels as they are."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # malformed EXIF comes in many shapes; the pixels are still good
        log.warning("ignoring an unreadable EXIF orientation", exc_info=True)
        return image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _resizable(image: Image.Image) -> Image.Image:
    """Modes that resize smoothly: palette → RGB(A), 1-bit and 16-bit grey → 8-bit grey."""
    if image.mode in ("P", "PA"):
        return image.convert("RGBA" if _has_alpha(image) else "RGB")
    if image.mode == "1":
        return image.convert("L")
    if image.mode.startswith("I"):  # 16/32-bit grey PNG: scale into 0..255 rather than clip
        return image.convert("I").point(lambda value: value / 256).convert("L")
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
    return Image.frombytes(image.mode, image.size, image.tobytes())


def _encode(image: Image.Image, fmt: ImageFormat) -> bytes:
    out = io.BytesIO()
    if fmt.pillow == "JPEG":
        image.save(out, "JPEG", quality=88, optimize=True, progressive=True)
    elif fmt.pillow == "PNG":
        image.save(out, "PNG", optimize=True)
    else:
        image.save(out, "WEBP", quality=85, method=4)
    return out.getvalue()


def clean_image(data: bytes, max_side: int) -> tuple[bytes, ImageFormat, tuple[int, int]]:
    """Check ``data`` is an allowed image and re-encode it upright, at most ``max_side``, metadata-free."""
    with _open(data) as source:
        fmt = STORED_AS.get(str(source.format))
        if fmt is None:  # a plugin named a variant we have no encoder for: the type is refused, never a 500
            log.info("refusing an image Pillow reads as %s", source.format)
            raise _type_not_allowed()
        icc_profile = source.info.get("icc_profile")
        image = _resizable(_upright(_decode(source, max_side)))
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
    encoded, fmt, (width, height) = clean_image(data, int(config["FILES_MAX_SIDE"]))
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
