"""File-format details for :mod:`idreader.pages`: type sniffing and header resolutions.

Only headers are read here, never pixels: the magic bytes that tell a PDF from a PNG,
JPEG, TIFF or BMP, and the resolution an image file states (PNG ``pHYs``, JPEG JFIF or
Exif, TIFF tags, BMP header), one per page for a multi-page TIFF.
"""

from __future__ import annotations

import struct


def sniff_type(data: bytes) -> str | None:
    """``"pdf"``, ``"tiff"``, ``"image"`` (PNG, JPEG, BMP) or None, from magic bytes."""
    if b"%PDF" in data[:1024]:  # the spec lets junk precede the header
        return "pdf"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM")):
        return "image"
    return None


def image_resolutions(data: bytes) -> list[tuple[float, float] | None]:
    """Per-page (x, y) pixels per inch stated in an image file's header, None if absent.

    Reads only headers (PNG pHYs, JPEG JFIF/Exif, TIFF tags, BMP), never pixels.
    """
    try:
        if data.startswith(b"\x89PNG"):
            return [_png_resolution(data)]
        if data.startswith(b"\xff\xd8"):
            return [_jpeg_resolution(data)]
        if data.startswith(b"BM") and len(data) >= 46:
            x, y = struct.unpack_from("<ii", data, 38)  # pixels per metre
            return [(round(x * 0.0254, 1), round(y * 0.0254, 1)) if x > 0 and y > 0 else None]
        return tiff_resolutions(data)
    except struct.error:  # a truncated header: the decoder has the final word on the file
        return []


def _png_resolution(data: bytes) -> tuple[float, float] | None:
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"pHYs":
            x, y, unit = struct.unpack_from(">IIB", data, pos + 8)
            return (round(x * 0.0254, 1), round(y * 0.0254, 1)) if unit == 1 else None
        if kind in (b"IDAT", b"IEND"):
            return None
        pos += 12 + length
    return None


def _jpeg_resolution(data: bytes) -> tuple[float, float] | None:
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker, length = data[pos + 1], struct.unpack_from(">H", data, pos + 2)[0]
        body = data[pos + 4 : pos + 2 + length]
        if marker == 0xE0 and body.startswith(b"JFIF\x00") and len(body) >= 12:
            unit, x, y = struct.unpack_from(">BHH", body, 7)
            if unit in (1, 2) and x > 0 and y > 0:
                scale = 1.0 if unit == 1 else 2.54
                return x * scale, y * scale
        elif marker == 0xE1 and body.startswith(b"Exif\x00\x00"):
            found = tiff_resolutions(body[6:])
            if found and found[0] is not None:
                return found[0]
        elif marker == 0xDA:  # start of scan: no more headers
            return None
        pos += 2 + length
    return None


def tiff_resolutions(data: bytes) -> list[tuple[float, float] | None]:
    """One entry per IFD (page) of a classic TIFF; [] when ``data`` is not one."""
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None or struct.unpack_from(order + "H", data, 2)[0] != 42:
        return []
    out: list[tuple[float, float] | None] = []
    offset = struct.unpack_from(order + "I", data, 4)[0]
    seen: set[int] = set()
    while offset and offset not in seen and offset + 2 <= len(data):
        seen.add(offset)  # a looping IFD chain must not hang us
        count = struct.unpack_from(order + "H", data, offset)[0]
        tags: dict[int, tuple[int, int]] = {}
        for i in range(count):
            tag, kind, _, value = struct.unpack_from(order + "HHII", data, offset + 2 + 12 * i)
            tags[tag] = (kind, value)
        out.append(_tiff_dpi(data, order, tags))
        offset = struct.unpack_from(order + "I", data, offset + 2 + 12 * count)[0]
    return out


def _tiff_dpi(data: bytes, order: str, tags: dict[int, tuple[int, int]]):
    if 282 not in tags or 283 not in tags:  # XResolution, YResolution (RATIONAL)
        return None
    unit = 2  # ResolutionUnit (SHORT, left-justified in the value field): 1 none, 2 in, 3 cm
    if 296 in tags:
        unit = tags[296][1] >> 16 if order == ">" else tags[296][1] & 0xFFFF
    res = []
    for tag in (282, 283):
        num, den = struct.unpack_from(order + "II", data, tags[tag][1])
        res.append(num / den if den else 0.0)
    if unit == 1 or min(res) <= 0:
        return None
    return (res[0] * 2.54, res[1] * 2.54) if unit == 3 else (res[0], res[1])
