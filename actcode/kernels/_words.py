"""Packed rows as uint64 words, and the popcount that every Hamming kernel uses."""

from __future__ import annotations

import numba
import numpy as np
from numba import njit

__all__ = ["NO_DISTANCE", "NO_INDEX", "check_words", "popcount64", "to_words"]

#: Distance reported where no row qualifies (larger than any Hamming distance).
NO_DISTANCE = np.int64(2**62)
#: Index reported where no row qualifies.
NO_INDEX = np.int64(2**62)

# pure Python under NUMBA_DISABLE_JIT=1 (the kernel tests run once that way)
if numba.config.DISABLE_JIT:  # type: ignore[attr-defined]

    def popcount64(x: int) -> int:
        """Number of set bits of a 64-bit word."""
        return int(x).bit_count()

else:
    from numba import types
    from numba.extending import intrinsic

    @intrinsic
    def _ctpop(typingctx, x):  # type: ignore[no-untyped-def]
        sig = types.int64(types.uint64)

        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            return builder.ctpop(args[0])

        return sig, codegen

    @njit(inline="always", cache=True)
    def popcount64(x):  # type: ignore[no-untyped-def]
        """Number of set bits of a 64-bit word (LLVM ``ctpop``), as int64."""
        return _ctpop(x)  # type: ignore[call-arg]


def to_words(codes: np.ndarray) -> np.ndarray:
    """Copy packed rows into ``uint64`` words, zero-padding each row to a multiple of 8 bytes.

    Parameters
    ----------
    codes : ndarray of shape (n_samples, n_bytes), dtype=np.uint8

    Returns
    -------
    words : ndarray of shape (n_samples, ceil(n_bytes / 8)), dtype=np.uint64
        C-contiguous. Word ``w`` holds bytes ``8w .. 8w+7`` of the row in native byte order;
        the order of bits inside a word is irrelevant for distances and equality.

    Examples
    --------
    >>> to_words(np.array([[255, 1]], np.uint8)).shape
    (1, 1)
    """
    codes = np.asarray(codes)
    if codes.dtype != np.uint8 or codes.ndim != 2:
        msg = f"packed codes must be a 2-D uint8 array; got {codes.dtype} of shape {codes.shape}."
        raise ValueError(msg)
    n, nb = codes.shape
    nw = (nb + 7) // 8
    if nb == nw * 8 and codes.flags.c_contiguous:
        return codes.view(np.uint64).reshape(n, nw) if n else np.zeros((0, nw), np.uint64)
    out = np.zeros((n, nw * 8), np.uint8)
    out[:, :nb] = codes
    return out.view(np.uint64).reshape(n, nw)


def check_words(a: np.ndarray, name: str) -> np.ndarray:
    if not isinstance(a, np.ndarray) or a.dtype != np.uint64 or a.ndim != 2:
        got = f"{a.dtype} of shape {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
        msg = f"{name} must be a 2-D uint64 word array (see to_words); got {got}."
        raise ValueError(msg)
    return np.ascontiguousarray(a)
