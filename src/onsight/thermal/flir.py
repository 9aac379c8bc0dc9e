"""FLIR containers: JPEG APP1 segments, the FFF record container, SEQ files of FFF frames.

FFF layout (all offsets relative to the start of the FFF block):
  header (64 B): magic "FFF\\0" or "AFF\\0", creator[16], u32 version (100-199), u32 directory
                 offset, u32 entry count. The version tells the header's byte order.
  directory:     32-byte entries: u16 type, u16 subtype, u32 version, u32 id, u32 offset,
                 u32 length, ... Type 1 is RawData, 0x20 CameraInfo, 0 an unused slot.
  records:       each starts with a u16 equal to 2 in the record's own byte order, which may
                 differ from the header's.
Only RawData and CameraInfo are read. Other records (notably GPS) are never parsed.
"""

from __future__ import annotations

import mmap
import struct
import zlib
from collections.abc import Iterator

import numpy as np

from onsight.errors import OnsightError
from onsight.thermal.planck import PlanckParams, ThermalImage, U16Array

Buffer = bytes | mmap.mmap

FFF_MAGICS = (b"FFF\0", b"AFF\0")
_HEADER_SIZE = 64
_ENTRY_SIZE = 32
_RAW_DATA = 0x01
_CAMERA_INFO = 0x20
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_RAW_PIXELS_AT = 32
_CAMERA_INFO_SIZE = 0x310  # up to and including PlanckR2
# CameraInfo: offset -> float32 field of PlanckParams (temperatures are stored in kelvin)
_CAMERA_FLOATS = {
    0x20: "emissivity",
    0x24: "object_distance_m",
    0x28: "reflected_k",
    0x2C: "atmosphere_k",
    0x30: "ir_window_k",
    0x34: "ir_window_transmission",
    0x3C: "relative_humidity",
    0x58: "r1",
    0x5C: "b",
    0x60: "f",
    0x70: "alpha1",
    0x74: "alpha2",
    0x78: "beta1",
    0x7C: "beta2",
    0x80: "x",
    0x30C: "r2",
}
_PLANCK_O_AT = 0x308  # int32
_CAMERA_MODEL_AT = 0xD4  # string[32]


class ThermalFormatError(OnsightError):
    """A file is not a readable radiometric image: wrong type, unsupported, or damaged."""


def corrupt(name: str, why: str) -> ThermalFormatError:
    return ThermalFormatError(f"truncated or corrupt thermal file {name}: {why}")


def jpeg_app1_payloads(data: Buffer, name: str) -> list[bytes]:
    """Payloads of the APP1 segments of a JPEG, in file order, up to the image data."""
    payloads: list[bytes] = []
    pos = 2  # after SOI
    while True:
        while data[pos : pos + 2] == b"\xff\xff":
            pos += 1  # fill bytes before a marker
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise corrupt(name, f"JPEG structure broken at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xD9:  # end of image before any image data
            return payloads
        if marker == 0xDA:  # start of scan: no metadata after this
            # Entropy-coded data never contains FF D9, so a missing EOI means the file was cut.
            if data.rfind(b"\xff\xd9", pos) < 0:
                raise corrupt(name, "the JPEG image data ends early")
            return payloads
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise corrupt(name, f"JPEG segment at byte {pos} runs past the end of the file")
        if marker == 0xE1:
            payloads.append(bytes(data[pos + 4 : end]))
        pos = end


def fff_from_app1(payloads: list[bytes], name: str) -> bytes | None:
    """Join the "FLIR\\0" APP1 chunks into the FFF block; None when the JPEG has none.

    Chunk header: "FLIR\\0", a version byte, the chunk's index, the index of the last chunk.
    """
    chunks: dict[int, bytes] = {}
    last = -1
    for payload in payloads:
        if payload[:5] != b"FLIR\0" or len(payload) < 8:
            continue
        chunks[payload[6]] = payload[8:]
        last = max(last, payload[7])
    if not chunks:
        return None
    if sorted(chunks) != list(range(last + 1)):
        raise corrupt(name, f"FLIR segments {sorted(chunks)} of 0..{last} present")
    return b"".join(chunks[i] for i in range(last + 1))


def iter_fff(data: Buffer, name: str) -> Iterator[ThermalImage]:
    """Every FFF block in `data` in order: one for an FFF file, several for a SEQ."""
    start = 0
    while True:
        frame, end = read_fff(data, start, name)
        yield frame
        start = _next_magic(data, end)
        if start < 0:
            return


def read_fff(data: Buffer, start: int, name: str) -> tuple[ThermalImage, int]:
    """Parse the FFF block at `start`; return it and the offset just past its last record."""
    records, end = _records(data, start, name)
    if _RAW_DATA not in records:
        raise corrupt(name, "the FLIR data has no raw thermal image record")
    if _CAMERA_INFO not in records:
        raise corrupt(name, "the FLIR data has no camera calibration record")
    camera, params = _camera_info(records[_CAMERA_INFO], name)
    return ThermalImage(camera, _raw_image(records[_RAW_DATA], name), params), end


def _next_magic(data: Buffer, pos: int) -> int:
    """Offset of the next FFF block at or after `pos` (SEQ frames may be padded), or -1."""
    hits = [data.find(magic, pos) for magic in FFF_MAGICS]
    return min((h for h in hits if h >= 0), default=-1)


def _records(data: Buffer, start: int, name: str) -> tuple[dict[int, bytes], int]:
    """The first record of each type in the FFF block at `start`, and the block's end."""
    if len(data) < start + _HEADER_SIZE or data[start : start + 4] not in FFF_MAGICS:
        raise corrupt(name, f"no FFF header at byte {start}")
    order = _header_order(data, start, name)
    directory, count = struct.unpack_from(order + "II", data, start + 24)
    end = start + directory + count * _ENTRY_SIZE
    if end > len(data) or count > 4096:
        raise corrupt(name, "the FFF record directory is incomplete")
    records: dict[int, bytes] = {}
    for i in range(count):
        entry = start + directory + i * _ENTRY_SIZE
        kind, _sub, _ver, _id, offset, length = struct.unpack_from(order + "HHIIII", data, entry)
        if kind == 0:
            continue
        record_end = start + offset + length
        if record_end > len(data):
            raise corrupt(name, f"FFF record of type {kind:#x} runs past the end of the data")
        end = max(end, record_end)
        if kind in (_RAW_DATA, _CAMERA_INFO) and kind not in records:
            records[kind] = bytes(data[start + offset : record_end])
    return records, end


def _header_order(data: Buffer, start: int, name: str) -> str:
    for order in (">", "<"):
        (version,) = struct.unpack_from(order + "I", data, start + 20)
        if 100 <= version < 200:
            return order
    raise corrupt(name, "unknown FFF version")


def _record_order(record: bytes, name: str) -> str:
    if len(record) >= 2:
        for order in ("<", ">"):
            if struct.unpack_from(order + "H", record)[0] == 2:
                return order
    raise corrupt(name, "FFF record with an unknown byte order")


def _raw_image(record: bytes, name: str) -> U16Array:
    order = _record_order(record, name)
    if len(record) < _RAW_PIXELS_AT:
        raise corrupt(name, "raw thermal record too short")
    width, height = struct.unpack_from(order + "HH", record, 2)
    payload = record[_RAW_PIXELS_AT:]
    if payload.startswith(_PNG_MAGIC):
        if not _png_intact(payload, width, height):
            raise corrupt(name, "the raw thermal PNG is damaged")
        import cv2  # not at import time: `onsight --help` reads this module

        image = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_UNCHANGED)
        if image is None or image.dtype != np.uint16 or image.shape != (height, width):
            raise corrupt(name, "the raw thermal PNG cannot be decoded")
        # FLIR writes little-endian counts into the big-endian 16-bit PNG.
        raw: U16Array = np.ascontiguousarray(image.byteswap(), dtype=np.uint16)
    else:  # bare counts in the record's byte order (exiftool calls this "TIFF")
        if len(payload) < width * height * 2:
            raise corrupt(name, "the raw thermal image is cut short")
        counts = np.frombuffer(payload, order + "u2", count=width * height)
        raw = np.asarray(counts.reshape(height, width), dtype=np.uint16).copy()
    if raw.size == 0:
        raise corrupt(name, "the raw thermal image is empty")
    raw.setflags(write=False)
    return raw


def _png_intact(png: bytes, width: int, height: int) -> bool:
    """Check chunk CRCs and the compressed size before libpng sees the data.

    libpng reports damage on stderr itself; checking first keeps a bad file to one error line.
    """
    pos, idat = len(_PNG_MAGIC), bytearray()
    while pos + 12 <= len(png):
        length, kind = struct.unpack_from(">I4s", png, pos)
        if pos + 12 + length > len(png):
            return False
        body = png[pos + 4 : pos + 8 + length]  # type and data, which the CRC covers
        if zlib.crc32(body) != struct.unpack_from(">I", png, pos + 8 + length)[0]:
            return False
        if kind == b"IDAT":
            idat += body[4:]
        if kind == b"IEND":
            try:  # one filter byte per row, then 2 bytes per grey pixel
                return len(zlib.decompress(idat)) == height * (1 + 2 * width)
            except zlib.error:
                return False
        pos += 12 + length
    return False


def _camera_info(record: bytes, name: str) -> tuple[str, PlanckParams]:
    order = _record_order(record, name)
    if len(record) < _CAMERA_INFO_SIZE:
        raise corrupt(name, "camera calibration record too short")
    values: dict[str, float] = {
        field: struct.unpack_from(order + "f", record, at)[0]
        for at, field in _CAMERA_FLOATS.items()
    }
    values["o"] = float(struct.unpack_from(order + "i", record, _PLANCK_O_AT)[0])
    # Some firmware stores humidity in percent; real fractions never exceed 1 (as exiftool).
    if values["relative_humidity"] > 2.0:
        values["relative_humidity"] /= 100.0
    params = PlanckParams(**values)
    _check(params, name)
    model = record[_CAMERA_MODEL_AT : _CAMERA_MODEL_AT + 32].split(b"\0")[0]
    camera = model.decode("ascii", "replace").strip()
    return (camera if camera not in ("", "*") else "FLIR (model not recorded)"), params


def _check(p: PlanckParams, name: str) -> None:
    """Reject values that would silently give wrong temperatures."""
    fields = vars(p).values()
    if not all(np.isfinite(v) for v in fields):
        raise corrupt(name, "non-numeric calibration values")
    if p.r1 <= 0 or p.r2 <= 0 or p.b <= 0:
        raise corrupt(name, f"implausible Planck constants R1={p.r1} R2={p.r2} B={p.b}")
    if not (0 < p.emissivity <= 1 and 0 < p.ir_window_transmission <= 1):
        raise corrupt(name, f"emissivity {p.emissivity} or window transmission out of (0, 1]")
    if p.object_distance_m < 0 or min(p.reflected_k, p.atmosphere_k, p.ir_window_k) <= 0:
        raise corrupt(name, "negative distance or absolute temperature")
