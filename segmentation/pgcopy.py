"""PostgreSQL's binary COPY format to and from numpy: a million fixed-width rows in one pass,
without a Python object per row or per value.

A binary COPY row is a 16-bit field count, then per field a 32-bit length and the value, all
big-endian. When every field has a fixed width and is never NULL, a row is a numpy structured
dtype, so a block of rows is one `np.frombuffer` and a column is a strided view. The queries read
this way say so (they select no NULLs); anything else is refused, never misread.

Text COPY (for rows with strings) is parsed here too, with the id column vectorised.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import psycopg

Kind = Literal["uuid", "float8", "int8", "int4"]
Rows = npt.NDArray[np.void]  # a structured array of binary COPY rows

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
HEADER = SIGNATURE + bytes(8)  # no flags, no header extension
TRAILER = b"\xff\xff"
_FORMATS: dict[str, tuple[str, int]] = {
    "uuid": ("S16", 16),
    "float8": (">f8", 8),
    "int8": (">i8", 8),
    "int4": (">i4", 4),
}
_NATIVE = {"uuid": "S16", "float8": "<f8", "int8": "<i8", "int4": "<i8"}
_BLOCK = 16 * 2**20  # bytes parsed at a time


def row_dtype(kinds: Sequence[Kind]) -> np.dtype[np.void]:
    fields: list[tuple[str, str]] = [("fields", ">i2")]
    for i, kind in enumerate(kinds):
        fmt, _size = _FORMATS[kind]
        fields += [(f"size{i}", ">i4"), (f"c{i}", fmt)]
    return np.dtype(fields)


def copy_out(
    cursor: psycopg.Cursor[Any], query: str, kinds: Sequence[Kind], *, block: int = _BLOCK
) -> Rows:
    """The rows of `query` (fixed-width columns of these kinds, no NULLs) as one structured
    array, read with `COPY (query) TO STDOUT (FORMAT BINARY)`, parsed `block` bytes at a time."""
    dtype = row_dtype(kinds)
    blocks: list[Rows] = []
    pending = bytearray()
    started = False
    with cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT BINARY)") as copy:
        for data in copy:
            pending += data
            if not started and len(pending) >= len(HEADER):
                pending = pending[_header_length(pending) :]
                started = True
            if started and len(pending) >= block:
                pending = _take_rows(pending, dtype, len(kinds), blocks)
    if not started:
        raise ValueError("no COPY header received")
    rest = _take_rows(pending, dtype, len(kinds), blocks)
    if bytes(rest) != TRAILER:
        raise ValueError("a COPY row is not of the expected width (a NULL, or another type)")
    # Not np.concatenate: it would give the rows native byte order, which is not the wire's.
    rows = np.empty(sum(len(part) for part in blocks), dtype=dtype)
    at = 0
    for part in blocks:
        rows[at : at + len(part)] = part
        at += len(part)
    return rows


def _header_length(data: bytearray) -> int:
    if bytes(data[: len(SIGNATURE)]) != SIGNATURE:
        raise ValueError("not a binary COPY stream")
    extension = int.from_bytes(data[len(SIGNATURE) + 4 : len(SIGNATURE) + 8], "big")
    return len(HEADER) + extension


def _take_rows(data: bytearray, dtype: np.dtype[np.void], width: int, out: list[Rows]) -> bytearray:
    """Parse the complete rows at the start of `data` into `out`; the bytes left over."""
    count = len(data) // dtype.itemsize
    if count:
        rows = np.frombuffer(bytes(data[: count * dtype.itemsize]), dtype=dtype)
        _check(rows, dtype, width)
        out.append(rows)
    return data[count * dtype.itemsize :]


def _check(rows: Rows, dtype: np.dtype[np.void], width: int) -> None:
    if not (rows["fields"] == width).all():
        raise ValueError("a COPY row has another number of columns than expected")
    for i in range(width):
        size = dtype[f"c{i}"].itemsize
        if not (rows[f"size{i}"] == size).all():
            raise ValueError(f"column {i} of a COPY row is NULL or of another width")


def column(rows: Rows, index: int, kind: Kind) -> npt.NDArray[Any]:
    """One column of parsed rows, in native byte order (ids stay 16-byte strings)."""
    return rows[f"c{index}"].astype(_NATIVE[kind])


def pack(kinds: Sequence[Kind], columns: Sequence[npt.NDArray[Any]]) -> Rows:
    """Columns as binary COPY rows (the inverse of `column`)."""
    dtype = row_dtype(kinds)
    rows = np.empty(len(columns[0]) if columns else 0, dtype=dtype)
    rows["fields"] = len(kinds)
    for i, values in enumerate(columns):
        rows[f"size{i}"] = dtype[f"c{i}"].itemsize
        rows[f"c{i}"] = values
    return rows


def copy_in(
    cursor: psycopg.Cursor[Any],
    table: str,
    names: Sequence[str],
    rows: Rows,
    *,
    block: int = _BLOCK,
) -> None:
    """Write binary COPY rows into `table` (its columns `names`, in the rows' order), `block`
    bytes at a time."""
    wire = rows.dtype.newbyteorder(">")
    if rows.dtype != wire:
        rows = rows.astype(wire)
    per_block = max(block // max(rows.dtype.itemsize, 1), 1)
    with cursor.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(HEADER)
        for start in range(0, len(rows), per_block):
            copy.write(rows[start : start + per_block].tobytes())
        copy.write(TRAILER)


# --- text COPY ---------------------------------------------------------------------------------
_ESCAPES = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}
_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)", re.DOTALL)
_HEX = np.full(256, 255, dtype=np.uint8)
for _digit, _value in zip(b"0123456789abcdef", range(16), strict=True):
    _HEX[_digit] = _value
for _digit, _value in zip(b"ABCDEF", range(10, 16), strict=True):
    _HEX[_digit] = _value


def copy_out_text(cursor: psycopg.Cursor[Any], query: str) -> list[list[bytes | None]]:
    """The rows of `query` as lists of raw values (bytes, None for NULL), through text COPY."""
    with cursor.copy(f"COPY ({query}) TO STDOUT") as copy:
        data = b"".join(bytes(chunk) for chunk in copy)
    rows: list[list[bytes | None]] = []
    for line in data.split(b"\n")[:-1]:
        fields: list[bytes | None] = []
        for value in line.split(b"\t"):
            if value == b"\\N":
                fields.append(None)
            elif b"\\" in value:
                fields.append(_ESCAPE.sub(_unescape, value))
            else:
                fields.append(value)
        rows.append(fields)
    return rows


def _unescape(match: re.Match[bytes]) -> bytes:
    code = match.group(1)
    if code[:1] == b"x":
        return bytes([int(code[1:], 16)])
    if code[:1].isdigit():
        return bytes([int(code, 8) & 0xFF])
    return _ESCAPES.get(code, code)


def uuids_from_text(texts: Iterable[bytes]) -> npt.NDArray[np.bytes_]:
    """Canonical uuid texts (36 characters with dashes, as PostgreSQL writes them) as 16-byte
    ids, vectorised."""
    joined = b"".join(texts)
    if len(joined) % 36:
        raise ValueError("not canonical uuid texts")
    chars = np.frombuffer(joined, dtype=np.uint8).reshape(-1, 36)
    hex_digits = np.delete(chars, [8, 13, 18, 23], axis=1)
    nibbles = _HEX[hex_digits]
    if (nibbles == 255).any():
        raise ValueError("not canonical uuid texts")
    raw = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]
    return np.ascontiguousarray(raw).view("S16").reshape(-1)
