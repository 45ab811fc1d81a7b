"""SipHash-2-4: a keyed 64-bit hash, so the egress check compares hashes and never holds raw values.

`siphash24` is the plain-Python twin (the spec, checked against the reference vectors);
`hash_strings` runs the same function as a Numba kernel over an Arrow string array's
buffers, one call for a whole column. A random per-profile key means a table of hashes
cannot be looked up by anyone who does not also hold the key.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import njit

KEY_BYTES = 16
_MASK = (1 << 64) - 1
_C0, _C1, _C2, _C3 = 0x736F6D6570736575, 0x646F72616E646F6D, 0x6C7967656E657261, 0x7465646279746573


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _MASK


def _round(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:
    v0 = (v0 + v1) & _MASK
    v1 = _rotl(v1, 13) ^ v0
    v0 = _rotl(v0, 32)
    v2 = (v2 + v3) & _MASK
    v3 = _rotl(v3, 16) ^ v2
    v0 = (v0 + v3) & _MASK
    v3 = _rotl(v3, 21) ^ v0
    v2 = (v2 + v1) & _MASK
    v1 = _rotl(v1, 17) ^ v2
    v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


def siphash24(key: bytes, data: bytes) -> int:
    """SipHash-2-4 of `data` under a 16-byte `key` (plain Python: the spec of the kernel)."""
    assert len(key) == KEY_BYTES, "SipHash takes a 16-byte key"
    k0, k1 = int.from_bytes(key[:8], "little"), int.from_bytes(key[8:], "little")
    v0, v1, v2, v3 = k0 ^ _C0, k1 ^ _C1, k0 ^ _C2, k1 ^ _C3
    full = len(data) - len(data) % 8
    for start in range(0, full, 8):
        m = int.from_bytes(data[start : start + 8], "little")
        v3 ^= m
        v0, v1, v2, v3 = _round(*_round(v0, v1, v2, v3))
        v0 ^= m
    last = ((len(data) & 0xFF) << 56) | int.from_bytes(data[full:], "little")
    v3 ^= last
    v0, v1, v2, v3 = _round(*_round(v0, v1, v2, v3))
    v0 ^= last
    v2 ^= 0xFF
    for _ in range(4):
        v0, v1, v2, v3 = _round(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


@njit(cache=True, nogil=True, inline="always")
def _rotl_u64(x, b):
    return (x << np.uint64(b)) | (x >> np.uint64(64 - b))


@njit(cache=True, nogil=True, inline="always")
def _round_u64(v0, v1, v2, v3):
    v0 += v1
    v1 = _rotl_u64(v1, 13) ^ v0
    v0 = _rotl_u64(v0, 32)
    v2 += v3
    v3 = _rotl_u64(v3, 16) ^ v2
    v0 += v3
    v3 = _rotl_u64(v3, 21) ^ v0
    v2 += v1
    v1 = _rotl_u64(v1, 17) ^ v2
    v2 = _rotl_u64(v2, 32)
    return v0, v1, v2, v3


@njit(cache=True, nogil=True)
def _hash_slices(data, offsets, k0, k1):
    """SipHash-2-4 of data[offsets[i]:offsets[i+1]] for every i."""
    n = len(offsets) - 1
    out = np.empty(n, dtype=np.uint64)
    for i in range(n):
        start, end = offsets[i], offsets[i + 1]
        length = end - start
        v0, v1 = k0 ^ np.uint64(_C0), k1 ^ np.uint64(_C1)
        v2, v3 = k0 ^ np.uint64(_C2), k1 ^ np.uint64(_C3)
        full_end = start + length - length % 8
        pos = start
        while pos < full_end:
            m = np.uint64(0)
            for j in range(8):
                m |= np.uint64(data[pos + j]) << np.uint64(8 * j)
            v3 ^= m
            v0, v1, v2, v3 = _round_u64(v0, v1, v2, v3)
            v0, v1, v2, v3 = _round_u64(v0, v1, v2, v3)
            v0 ^= m
            pos += 8
        last = np.uint64(length & 0xFF) << np.uint64(56)
        for j in range(end - full_end):
            last |= np.uint64(data[full_end + j]) << np.uint64(8 * j)
        v3 ^= last
        v0, v1, v2, v3 = _round_u64(v0, v1, v2, v3)
        v0, v1, v2, v3 = _round_u64(v0, v1, v2, v3)
        v0 ^= last
        v2 ^= np.uint64(0xFF)
        for _ in range(4):
            v0, v1, v2, v3 = _round_u64(v0, v1, v2, v3)
        out[i] = v0 ^ v1 ^ v2 ^ v3
    return out


def hash_strings(strings: pa.Array, key: bytes) -> np.ndarray:
    """uint64 SipHash-2-4 of each UTF-8 value of `strings` (a null hashes as the empty string)."""
    assert len(key) == KEY_BYTES, "SipHash takes a 16-byte key"
    strings = strings.cast(pa.large_string())  # int64 offsets whatever the input's width
    _, offsets_buffer, data_buffer = strings.buffers()
    if len(strings) == 0:
        return np.empty(0, dtype=np.uint64)
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[strings.offset : strings.offset + len(strings) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    k0 = np.uint64(int.from_bytes(key[:8], "little"))
    k1 = np.uint64(int.from_bytes(key[8:], "little"))
    return _hash_slices(data, np.ascontiguousarray(offsets), k0, k1)


# Tags appended to a number's 8 bytes: 0xFE and 0xFF never occur in UTF-8 text, so a
# number's hash never meets a string's.
TAG_INTEGER = 0xFF
TAG_FLOAT = 0xFE


def hash_words(words: np.ndarray, tag: int, key: bytes) -> np.ndarray:
    """uint64 SipHash-2-4 of each 64-bit word's 8 little-endian bytes followed by `tag`."""
    assert len(key) == KEY_BYTES and words.itemsize == 8, "8-byte words and a 16-byte key"
    n = len(words)
    message = np.empty((n, 9), dtype=np.uint8)
    message[:, :8] = np.ascontiguousarray(words).astype(words.dtype.newbyteorder("<")).view(np.uint8).reshape(n, 8)
    message[:, 8] = tag
    offsets = np.arange(0, 9 * n + 1, 9, dtype=np.int64)
    k0 = np.uint64(int.from_bytes(key[:8], "little"))
    k1 = np.uint64(int.from_bytes(key[8:], "little"))
    return _hash_slices(message.reshape(-1), offsets, k0, k1)
