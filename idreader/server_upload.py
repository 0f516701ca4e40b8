"""Stream a multipart upload into a private temporary directory, within the limits.

Starlette's own form parser spools every file to the system temporary directory
without a size limit; this module instead counts bytes as they arrive, writes file
parts straight into a ``mkdtemp`` directory (mode 0700) under names it chooses, and
identifies each file by its magic bytes. The client's file name is kept only as a
sanitised label for the result's ``source``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .server_limits import ServiceError

logger = logging.getLogger(__name__)

#: Form field names that carry scans; ``classlist`` carries the class-list CSV.
SCAN_FIELDS = ("file", "files")
CLASSLIST_FIELD = "classlist"
#: Text fields a client may send (scan options); anything else is refused.
OPTION_FIELDS = ("id_length", "dpi", "confidence_threshold")
_MAX_FIELD_BYTES = 1024
_MAX_PARTS = 100
_SNIFF_BYTES = 1024


@dataclass(frozen=True)
class UploadedFile:
    """One scan file of an upload.

    ``path`` is a name the service chose inside the private directory; ``label`` is
    the client's file name, sanitised, used only as the result's ``source``.
    """

    path: Path
    label: str
    kind: str


@dataclass(frozen=True)
class Upload:
    """A received request: its scans, optional class list and option fields."""

    directory: Path
    files: tuple[UploadedFile, ...]
    classlist: Path | None
    options: tuple[tuple[str, str], ...]

    def remove(self) -> None:
        """Delete the private directory and everything in it."""
        remove_directory(self.directory)


def remove_directory(directory: Path) -> None:
    """Delete a private upload directory, logging (not hiding) a failure."""
    try:
        shutil.rmtree(directory)
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.warning("could not remove upload directory %s: %s", directory, exc)


def sniff_kind(head: bytes) -> str | None:
    """The file type by its first bytes: ``pdf``, ``png``, ``jpg``, ``tif``, ``bmp`` or None.

    Examples
    --------
    >>> sniff_kind(b"%PDF-1.7\\n...")
    'pdf'
    >>> sniff_kind(b"hello") is None
    True
    """
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tif"
    if head.startswith(b"BM") and len(head) >= 26:
        return "bmp"
    # The PDF specification lets a header follow up to 1024 bytes of leading junk.
    if b"%PDF-" in head[:_SNIFF_BYTES]:
        return "pdf"
    return None


def sanitise_label(filename: str | None, fallback: str) -> str:
    """A client file name made safe to show: base name only, printable, at most 120 chars.

    Examples
    --------
    >>> sanitise_label("../../etc/pass\\x00wd.pdf", "upload-1")
    'passwd.pdf'
    >>> sanitise_label("", "upload-1")
    'upload-1'
    """
    if not filename:
        return fallback
    base = re.split(r"[\\/]", filename)[-1]
    cleaned = "".join(c for c in base if unicodedata.category(c)[0] not in "CZ" or c == " ")
    cleaned = cleaned.strip().lstrip(".")[:120]
    return cleaned or fallback


class _PartSink:
    """Receives the parser's callbacks and writes each part where it belongs."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files: list[UploadedFile] = []
        self.classlist: Path | None = None
        self.options: list[tuple[str, str]] = []
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._filename: str | None = None
        self._out: IO[bytes] | None = None
        self._field = bytearray()
        self._head = bytearray()
        self._size = 0
        self._parts = 0

    def on_part_begin(self) -> None:
        self._headers = {}
        self._parts += 1
        if self._parts > _MAX_PARTS:
            raise ServiceError(422, "too_many_parts", f"at most {_MAX_PARTS} form parts")

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = self._header_value = b""

    def on_headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        raw_filename = params.get(b"filename")
        self._filename = None if raw_filename is None else raw_filename.decode("utf-8", "replace")
        self._size = 0
        self._head = bytearray()
        self._field = bytearray()
        if self._name in SCAN_FIELDS or self._name == CLASSLIST_FIELD:
            # Our own name; the part's real type is only known once its bytes arrive.
            target = self.directory / f"part-{self._parts}.bin"
            self._out = open(target, "xb")  # noqa: SIM115 - closed in on_part_end
        elif self._name in OPTION_FIELDS:
            self._out = None
        else:
            raise ServiceError(
                422,
                "unknown_field",
                f"unknown form field {self._name[:40]!r}; expected files in "
                f"{'/'.join(SCAN_FIELDS)}, '{CLASSLIST_FIELD}', or options "
                f"{', '.join(OPTION_FIELDS)}",
            )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        self._size += len(chunk)
        if self._out is None:
            if self._size > _MAX_FIELD_BYTES:
                raise ServiceError(422, "bad_option", f"form field {self._name!r} is too long")
            self._field += chunk
            return
        if len(self._head) < _SNIFF_BYTES:
            self._head += chunk[: _SNIFF_BYTES - len(self._head)]
        self._out.write(chunk)

    def on_part_end(self) -> None:
        if self._out is None:
            self.options.append((self._name, self._field.decode("utf-8", "replace").strip()))
            return
        path = Path(self._out.name)
        self._out.close()
        self._out = None
        if self._size == 0 and self._filename == "":
            path.unlink()  # a browser's file input left empty ("no file chosen")
            return
        if self._size == 0:
            raise ServiceError(422, "empty_upload", f"the uploaded {self._name!r} part is empty")
        if self._name == CLASSLIST_FIELD:
            if self.classlist is not None:
                raise ServiceError(422, "bad_classlist", "more than one class list uploaded")
            self.classlist = path.rename(self.directory / "classlist.csv")
            return
        kind = sniff_kind(bytes(self._head))
        if kind is None:
            label = sanitise_label(self._filename, "upload")
            raise ServiceError(
                415, "unsupported_type", f"{label!r} is not a PDF, PNG, JPEG, TIFF or BMP file"
            )
        index = len(self.files) + 1
        stored = path.rename(self.directory / f"scan-{index}.{kind}")
        self.files.append(
            UploadedFile(stored, sanitise_label(self._filename, f"upload-{index}"), kind)
        )

    def close(self) -> None:
        if self._out is not None:
            self._out.close()


async def receive_upload(
    content_type: str,
    content_length: str | None,
    body: AsyncIterator[bytes],
    *,
    max_bytes: int,
) -> Upload:
    """Stream a ``multipart/form-data`` body into a new private directory.

    Parameters
    ----------
    content_type, content_length : str
        The request's headers (``content_length`` may be None for a chunked body).
    body : async iterator of bytes
        The request body, e.g. ``request.stream()``.
    max_bytes : int
        Largest body accepted; exceeding it raises 413 as soon as it happens.

    Returns
    -------
    Upload
        The caller owns ``upload.directory`` and must call ``upload.remove()``.

    Raises
    ------
    ServiceError
        400 malformed body, 413 too large, 415 not a PDF/image, 422 empty or no scan.

    Examples
    --------
    >>> upload = await receive_upload(request.headers["content-type"],  # doctest: +SKIP
    ...                               None, request.stream(), max_bytes=10_000_000)
    """
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser, parse_options_header

    mime, params = parse_options_header(content_type)
    if mime != b"multipart/form-data" or not params.get(b"boundary"):
        raise ServiceError(415, "unsupported_media_type", "send the scan as multipart/form-data")
    too_large = ServiceError(413, "too_large", f"upload exceeds the limit of {max_bytes} bytes")
    if content_length is not None and content_length.isdigit() and int(content_length) > max_bytes:
        raise too_large
    directory = Path(tempfile.mkdtemp(prefix="idreader-upload-"))
    os.chmod(directory, 0o700)  # mkdtemp already does; stated for readers and odd umasks
    sink = _PartSink(directory)
    callbacks = {
        name: getattr(sink, name)
        for name in (
            "on_part_begin",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_part_end",
        )
    }
    parser = MultipartParser(params[b"boundary"], callbacks)  # type: ignore[arg-type]
    received = 0
    complete = False
    try:
        async for chunk in body:
            received += len(chunk)
            if received > max_bytes:
                raise ServiceError(
                    413, "too_large", f"upload exceeds the limit of {max_bytes} bytes"
                )
            parser.write(chunk)
        parser.finalize()
        if not sink.files:
            raise ServiceError(422, "empty_upload", "no scan file in the upload (field 'file')")
        complete = True
    except MultipartParseError as exc:
        raise ServiceError(400, "bad_request", f"malformed multipart body: {exc}") from exc
    finally:
        sink.close()
        if not complete:
            remove_directory(directory)
    return Upload(directory, tuple(sink.files), sink.classlist, tuple(sink.options))
