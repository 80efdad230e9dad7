"""Building hostile checkpoints: zip archives whose members declare what their data is not.

Shared by ``test_hostile_input.py`` and ``test_bad_input.py``, with the reading of the
tables of ``docs/errors.md`` that both check.
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

ERRORS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "errors.md"


def page_table(header: str) -> list[list[str]]:
    """The rows of the page's table whose header row starts with ``header``, cells unquoted."""
    lines = ERRORS_PAGE.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        rows.append([c[1:-1] if c.startswith("`") and c.endswith("`") else c for c in cells])
    return rows


def page_pattern(message: str) -> re.Pattern[str]:
    """The page's message as a regular expression, ``…`` matching any text."""
    return re.compile(".+".join(re.escape(part) for part in message.split("…")))


def npy_header(shape: tuple[int, ...], dtype: str) -> bytes:
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    text = repr(header).encode("latin1")
    pad = 64 - (10 + len(text) + 1) % 64
    body = text + b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body


def zeros_deflated(count: int) -> bytes:
    """A raw deflate stream of ``count`` zero bytes (a multiple of 2**24), built from one
    compressed block repeated: each block ends in a full flush, so none refers to another."""
    chunk = 2**24
    assert count % chunk == 0
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(chunk)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return block * (count // chunk) + compressor.flush(zlib.Z_FINISH)


def write_zip(path: Path, members: Mapping[str, tuple[bytes, bytes, int]]) -> None:
    """A zip archive whose members are ``name: (head, deflated_tail, tail_size)``: the
    bytes ``head`` stored as they are, followed by ``tail_size`` bytes given deflated.

    The CRC is left at 0: the loader must refuse these members before it reads them whole.
    """
    out, central = bytearray(), bytearray()
    for name, (head, tail, tail_size) in members.items():
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        if tail:  # byte-aligned after a full flush, so the tail's blocks can follow
            data = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH) + tail
            crc = 0
        else:
            data = compressor.compress(head) + compressor.flush(zlib.Z_FINISH)
            crc = zlib.crc32(head)
        size = len(head) + tail_size
        raw = name.encode()
        local = struct.pack(
            "<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), size, len(raw), 0
        )
        central += (
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                20,
                20,
                0,
                8,
                0,
                0,
                crc,
                len(data),
                size,
                len(raw),
                0,
                0,
                0,
                0,
                0,
                len(out),
            )
            + raw
        )
        out += local + raw + data
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(out), 0
    )
    path.write_bytes(bytes(out + central + end))


def members(checkpoint: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(checkpoint) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def json_entry(value: str) -> bytes:
    return npy_header((), f"<U{len(value)}") + value.encode("utf-32-le")


def variant(source: Path, target: Path, **replace: tuple[bytes, bytes, int]) -> Path:
    """A copy of the checkpoint ``source`` at ``target`` with members replaced
    (``params__W`` names ``params/W.npy``), each given as for :func:`write_zip`."""
    entries = {name: (data, b"", 0) for name, data in members(source).items()}
    entries.update({f"{k.replace('__', '/')}.npy": v for k, v in replace.items()})
    write_zip(target, entries)
    return target


Member = tuple[bytes, bytes, int]


def huge_member() -> Member:
    """An ``.npy`` member declaring shape (16384, 16384) float64: 2 GiB of zeros that
    deflate to 2 MiB."""
    size = 8 * 16384**2
    return npy_header((16384, 16384), "<f8"), zeros_deflated(size), size


def wide_config(source: Path) -> Member:
    """The config of the checkpoint ``source`` with hidden_size 15000."""
    with np.load(source, allow_pickle=False) as npz:
        config = json.loads(npz["config"].item())
    config["hidden_size"] = 15000
    return json_entry(json.dumps(config)), b"", 0


def deep_json(depth: int) -> Member:
    """A JSON text of ``depth`` nested arrays."""
    return json_entry("[" * depth + "]" * depth), b"", 0
