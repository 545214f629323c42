r"""Exact Hamming search in torch, by matrix products of unpacked bits (CUDA, and the same code on the CPU).

For 0/1 rows :math:`a, b` of length :math:`D`,

.. math:: H(a, b) = |a| + |b| - 2\, a \cdot b ,

so all distances between a query tile and a train tile are one matrix product of the bits
plus the row popcounts. The packed rows (``uint8``, bitorder "big", pad bits zero) move to the
device as they are; each tile is unpacked there, ``chunk_bits`` bits at a time, so device
memory stays bounded by the tile sizes whatever the code length.

Exactness. Every partial sum of a dot product of 0/1 vectors is a non-negative integer no
larger than the chunk length, so a product is exact whenever every integer up to the chunk
length is representable in the type that holds the partial sums, whatever the summation order
or the reduced-precision settings of the BLAS:

- ``"int8"``: ``torch._int_mm`` with int32 accumulation, exact while D < 2^31 (one product
  over the whole row).
- ``"float16"``: chunks of at most 2048 bits, so partial sums stay exact even in float16
  (11-bit significand); the chunks are summed in int32.
- ``"float32"``: chunks of at most 2^24 bits (24-bit significand). TF32 leaves 0 and 1 exact
  and keeps float32 accumulation, so it changes nothing here.

The per-tile results are merged with the tie rule of the Numba kernels in
:mod:`actcode.kernels.hamming`: neighbours are the first ``k`` train rows in the order
(distance, global index). A distance and a global index are packed into one int64 key
``distance * 2^s + index``, and ``torch.topk`` of the smallest keys (all distinct) per tile,
then of the previous best and the tile's best, gives exactly that order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from actcode.errors import InvalidParameterError
from actcode.kernels import NO_DISTANCE, NO_INDEX

__all__ = [
    "METHODS",
    "TorchHamming",
    "average_precision_torch",
    "hamming_block_torch",
    "nearest_class_distances_torch",
    "queries_on_device",
    "topk_hamming_torch",
]

#: Matrix-product methods, with the largest chunk (bits) whose dot products are exact.
METHODS = {"int8": 2**31 - 8, "float16": 2048, "float32": 2**24}
_NONE_KEY = torch.iinfo(torch.int64).max  # larger than every real key (those are < 2^62)
_SHIFTS = torch.arange(7, -1, -1, dtype=torch.uint8)  # bitorder "big", as np.packbits
_POPCOUNT = torch.tensor([bin(i).count("1") for i in range(256)], dtype=torch.int32)


@dataclass(frozen=True)
class TorchHamming:
    """Where and how the torch Hamming kernels run.

    Parameters
    ----------
    device : torch.device
    method : {"int8", "float16", "float32"}
        Type of the matrix products (see the module docstring); all are exact.
    tile_rows : int
        Query and train rows per tile (a tile of distances is ``tile_rows^2`` int64 keys).
    chunk_bits : int
        Bits unpacked per product; capped by the method's exact range.
    """

    device: torch.device
    method: str = "int8"
    tile_rows: int = 1024
    chunk_bits: int = 1 << 20

    @classmethod
    def for_device(cls, device: str | torch.device, method: str | None = None) -> TorchHamming:
        """Defaults for a device: int8 tensor-core products and 4096-row tiles on CUDA,
        int8 (oneDNN) products and 512-row tiles on the CPU; 65536 bits unpacked at a time.

        Device memory then stays near ``3 * 2 * tile_rows * chunk_bits`` bytes for the unpacked
        tiles and their temporaries (1.6 GB on CUDA) plus ``3 * 8 * tile_rows^2`` for the
        distances and keys (0.4 GB), whatever the code length or the number of rows."""
        dev = torch.device(device)
        chosen = method or "int8"
        if chosen not in METHODS:
            msg = f"the Hamming method must be one of {sorted(METHODS)}. Got {chosen!r} instead."
            raise InvalidParameterError(msg)
        if dev.type == "cuda":
            return cls(dev, chosen, 4096, 1 << 16)
        return cls(dev, chosen, 512, 1 << 16)

    def describe(self) -> str:
        """How the search ran, for the results' parameters: ``"torch int8 on cuda:0"``."""
        return f"torch {self.method} on {self.device}"

    def topk(self, queries: np.ndarray, train: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """:func:`topk_hamming_torch` (the :class:`~actcode.devices.HammingSearch` protocol)."""
        return topk_hamming_torch(queries, train, k, self)

    def average_precision(
        self, queries: np.ndarray, query_labels: np.ndarray, train: np.ndarray, train_labels: np.ndarray
    ) -> np.ndarray:
        """:func:`average_precision_torch` (the :class:`~actcode.devices.HammingSearch` protocol)."""
        return average_precision_torch(queries, query_labels, train, train_labels, self)

    @property
    def chunk_bytes(self) -> int:
        """Packed bytes unpacked per product: a multiple of 8, within the method's exact range."""
        bits = min(self.chunk_bits, METHODS[self.method])
        return max(8, (bits // 8) // 8 * 8)


def _as_bytes(rows: np.ndarray, what: str) -> np.ndarray:
    rows = np.asarray(rows)
    if rows.dtype != np.uint8 or rows.ndim != 2:
        msg = (
            f"{what} must be packed codes, a 2-D uint8 array (n_rows, n_bytes). "
            f"Got {rows.dtype} {rows.shape}."
        )
        raise InvalidParameterError(msg)
    return rows


def _to_device(rows: np.ndarray, eng: TorchHamming) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(rows))
    return t.to(eng.device, non_blocking=True) if eng.device.type != "cpu" else t


def _queries(queries: np.ndarray | torch.Tensor, eng: TorchHamming) -> torch.Tensor:
    """Packed query rows on the device; a tensor already there (uint8) is used as it is."""
    if isinstance(queries, torch.Tensor):
        if queries.dtype != torch.uint8 or queries.ndim != 2:
            got = f"{queries.dtype} {tuple(queries.shape)}"
            msg = f"queries must be a 2-D uint8 tensor of packed rows. Got {got}."
            raise InvalidParameterError(msg)
        return queries.to(eng.device)
    return _to_device(_as_bytes(queries, "queries"), eng)


def queries_on_device(queries: np.ndarray, engine: TorchHamming) -> torch.Tensor:
    """Move packed query rows to the engine's device once, for several calls over row blocks."""
    return _queries(queries, engine)


def _unpack(packed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(n, b) uint8 -> (n, 8b) 0/1 of ``dtype`` (uint8 is viewed as int8 for int8)."""
    shifts = _SHIFTS.to(packed.device)
    bits = ((packed.unsqueeze(-1) >> shifts) & 1).reshape(packed.shape[0], -1)
    if dtype == torch.int8:
        return bits.view(torch.int8)
    return bits.to(dtype)


def _popcounts(packed: torch.Tensor) -> torch.Tensor:
    return _POPCOUNT.to(packed.device)[packed.long()].sum(dim=1, dtype=torch.int32)


def _pad_rows(x: torch.Tensor, multiple: int, minimum: int) -> torch.Tensor:
    n = x.shape[0]
    target = max(minimum, -(-n // multiple) * multiple)
    if target == n:
        return x
    return torch.cat([x, x.new_zeros((target - n, *x.shape[1:]))])


def _dots(q: torch.Tensor, t: torch.Tensor, eng: TorchHamming) -> torch.Tensor:
    """Exact bit dot products (nq, nt) int32 of two packed tiles, chunk by chunk."""
    nq, nt = q.shape[0], t.shape[0]
    if eng.method == "int8":  # cuBLASLt's int8 product wants > 16 rows and multiples of 8
        q, t = _pad_rows(q, 8, 24), _pad_rows(t, 8, 8)
    out = torch.zeros((q.shape[0], t.shape[0]), dtype=torch.int32, device=q.device)
    step = eng.chunk_bytes
    for c in range(0, q.shape[1], step):
        qc, tc = q[:, c : c + step], t[:, c : c + step]
        if eng.method == "int8":
            width = -(-qc.shape[1] // 8) * 8  # K a multiple of 8 for _int_mm: pad with zero bytes
            if width != qc.shape[1]:
                qc = torch.nn.functional.pad(qc, (0, width - qc.shape[1]))
                tc = torch.nn.functional.pad(tc, (0, width - tc.shape[1]))
            out += torch._int_mm(_unpack(qc, torch.int8), _unpack(tc, torch.int8).t())
        else:
            dtype = torch.float16 if eng.method == "float16" else torch.float32
            out += (_unpack(qc, dtype) @ _unpack(tc, dtype).t()).to(torch.int32)
    return out[:nq, :nt]


def _distances(q: torch.Tensor, q_pop: torch.Tensor, t: torch.Tensor, eng: TorchHamming) -> torch.Tensor:
    """Hamming distances (nq, nt) int64 between packed tiles already on the device."""
    dots = _dots(q, t, eng)
    return q_pop[:, None].long() + _popcounts(t)[None, :].long() - 2 * dots.long()


def _blocks(
    train: np.ndarray | Iterable[tuple[int, np.ndarray]], rows: int
) -> Iterator[tuple[int, np.ndarray]]:
    """Train tiles of at most ``rows`` rows with their first global index."""
    parts = [(0, train)] if isinstance(train, np.ndarray) else train
    for start, block in parts:
        block = _as_bytes(block, "train block")
        for s in range(0, block.shape[0], rows):
            yield start + s, block[s : s + rows]


def hamming_block_torch(a: np.ndarray, b: np.ndarray, engine: TorchHamming) -> np.ndarray:
    """All Hamming distances between two packed row blocks (as :func:`actcode.kernels.hamming_block`).

    Returns
    -------
    distances : ndarray of shape (n_a, n_b), dtype=np.int32
    """
    a, b = _as_bytes(a, "a"), _as_bytes(b, "b")
    _check_width(a, b)
    out = np.empty((a.shape[0], b.shape[0]), np.int32)
    for s in range(0, a.shape[0], engine.tile_rows):
        q = _to_device(a[s : s + engine.tile_rows], engine)
        qp = _popcounts(q)
        for start, block in _blocks(b, engine.tile_rows):
            d = _distances(q, qp, _to_device(block, engine), engine)
            out[s : s + q.shape[0], start : start + block.shape[0]] = d.cpu().numpy()
    return out


def _check_width(q: np.ndarray | torch.Tensor, t: np.ndarray) -> None:
    if q.shape[1] != t.shape[1]:
        msg = f"train rows have {t.shape[1]} bytes but queries have {q.shape[1]}."
        raise InvalidParameterError(msg)


def _key_shift(n_bytes: int) -> int:
    """Bits left for the index in a key ``distance << s | index`` (distances are <= 8 n_bytes)."""
    return 62 - int(8 * n_bytes).bit_length()


def topk_hamming_torch(
    queries: np.ndarray | torch.Tensor,
    train: np.ndarray | Iterable[tuple[int, np.ndarray]],
    k: int,
    engine: TorchHamming,
    *,
    exclude: np.ndarray | None = None,
    state: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest train rows by Hamming distance, ties by the smaller index.

    The torch twin of :func:`actcode.kernels.topk_hamming`, on packed ``uint8`` rows instead
    of words; same results (distances, indices, ``NO_DISTANCE``/``NO_INDEX`` fill, exclusion,
    ``state`` merging).

    Parameters
    ----------
    queries : ndarray or Tensor of shape (n_queries, n_bytes), dtype uint8
        A tensor from :func:`queries_on_device` saves moving the queries on every call.
    train : ndarray of shape (n_train, n_bytes), dtype=np.uint8, or iterable of (start, block)
    k : int
    engine : TorchHamming
    exclude : ndarray of shape (n_queries,), dtype=np.int64, optional
        Global train index each query must not return; -1 for none.
    state : (distances, indices), optional
        Arrays from a previous call to merge into (updated in place).

    Returns
    -------
    distances, indices : ndarray of shape (n_queries, k), dtype=np.int64
    """
    q_all = _queries(queries, engine)
    if k < 1:
        msg = f"k must be at least 1; got {k}."
        raise ValueError(msg)
    nq = q_all.shape[0]
    shift = _key_shift(q_all.shape[1])
    dev = engine.device
    if state is None:
        best_d = np.full((nq, k), NO_DISTANCE, np.int64)
        best_i = np.full((nq, k), NO_INDEX, np.int64)
    else:
        best_d, best_i = state
    none = best_i == NO_INDEX
    keys0 = np.where(none, _NONE_KEY, (np.where(none, 0, best_d) << shift) + np.where(none, 0, best_i))
    keys = torch.from_numpy(keys0).to(dev)
    excl = torch.from_numpy(
        np.full(nq, -1, np.int64) if exclude is None else np.ascontiguousarray(exclude, np.int64)
    ).to(dev)
    q_pop = _popcounts(q_all)
    for start, block in _blocks(train, engine.tile_rows):
        _check_width(q_all, block)
        if start + block.shape[0] > (1 << shift):
            msg = f"train indices up to {start + block.shape[0]} do not fit the search keys (2^{shift})."
            raise InvalidParameterError(msg)
        t = _to_device(block, engine)
        gidx = torch.arange(start, start + block.shape[0], device=dev)
        for s in range(0, nq, engine.tile_rows):
            e = min(s + engine.tile_rows, nq)
            tile = (_distances(q_all[s:e], q_pop[s:e], t, engine) << shift) + gidx[None, :]
            tile.masked_fill_(gidx[None, :] == excl[s:e, None], _NONE_KEY)
            m = min(k, tile.shape[1])
            best = torch.topk(tile, m, dim=1, largest=False, sorted=False).values
            cand = torch.cat([keys[s:e], best], dim=1)
            keys[s:e] = torch.topk(cand, k, dim=1, largest=False, sorted=True).values
    out = keys.cpu().numpy()
    valid = out != _NONE_KEY
    best_d[...] = np.where(valid, out >> shift, NO_DISTANCE)
    best_i[...] = np.where(valid, out & ((1 << shift) - 1), NO_INDEX)
    return best_d, best_i


def nearest_class_distances_torch(
    queries: np.ndarray | torch.Tensor,
    query_labels: np.ndarray,
    query_ids: np.ndarray,
    rows: Iterable[tuple[int, np.ndarray, np.ndarray]],
    engine: TorchHamming,
    *,
    state: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Distance to the nearest other row of the query's class and of another class.

    The torch twin of :func:`actcode.kernels.nearest_class_distances` on packed rows.

    Returns
    -------
    within, between : ndarray of shape (n_queries,), dtype=np.int64
        ``NO_DISTANCE`` where no row qualifies.
    """
    q_all = _queries(queries, engine)
    nq = q_all.shape[0]
    dev = engine.device
    if state is None:
        within = np.full(nq, NO_DISTANCE, np.int64)
        between = np.full(nq, NO_DISTANCE, np.int64)
    else:
        within, between = state
    w = torch.from_numpy(within.copy()).to(dev)
    b = torch.from_numpy(between.copy()).to(dev)
    ql = torch.from_numpy(np.ascontiguousarray(query_labels, np.int64)).to(dev)
    qi = torch.from_numpy(np.ascontiguousarray(query_ids, np.int64)).to(dev)
    q_pop = _popcounts(q_all)
    big = torch.tensor(int(NO_DISTANCE), device=dev)
    for start, block, labels in rows:
        block = _as_bytes(block, "row block")
        _check_width(q_all, block)
        for s0 in range(0, block.shape[0], engine.tile_rows):
            t = _to_device(block[s0 : s0 + engine.tile_rows], engine)
            tl = torch.from_numpy(np.ascontiguousarray(labels[s0 : s0 + t.shape[0]], np.int64)).to(dev)
            gidx = torch.arange(start + s0, start + s0 + t.shape[0], device=dev)
            for s in range(0, nq, engine.tile_rows):
                e = min(s + engine.tile_rows, nq)
                d = _distances(q_all[s:e], q_pop[s:e], t, engine)
                same = tl[None, :] == ql[s:e, None]
                other = gidx[None, :] != qi[s:e, None]
                w[s:e] = torch.minimum(w[s:e], torch.where(same & other, d, big).amin(dim=1))
                b[s:e] = torch.minimum(b[s:e], torch.where(~same & other, d, big).amin(dim=1))
    within[...] = w.cpu().numpy()
    between[...] = b.cpu().numpy()
    return within, between


def average_precision_torch(
    queries: np.ndarray,
    query_labels: np.ndarray,
    train: np.ndarray,
    train_labels: np.ndarray,
    engine: TorchHamming,
    *,
    max_memory: int = 1 << 30,
) -> np.ndarray:
    """Average precision of ranking all train rows by Hamming distance, ties by index, per query.

    The torch twin of :func:`actcode.kernels.average_precision`: each query's distances to
    every train row are sorted by the key (distance, index); ``max_memory`` bounds the bytes of
    one block of such rows on the device (about 24 bytes per query and train row).

    Returns
    -------
    ap : ndarray of shape (n_queries,), dtype=np.float64
        NaN for a query whose label no train row has.
    """
    queries, train = _as_bytes(queries, "queries"), _as_bytes(train, "train")
    _check_width(queries, train)
    nq, nt = queries.shape[0], train.shape[0]
    dev = engine.device
    shift = _key_shift(queries.shape[1])
    tl = torch.from_numpy(np.ascontiguousarray(train_labels, np.int64)).to(dev)
    ql_all = np.ascontiguousarray(query_labels, np.int64)
    out = np.empty(nq, np.float64)
    rows = int(max(1, min(engine.tile_rows, max_memory // max(1, 24 * nt))))
    gidx = torch.arange(nt, device=dev)
    ranks = torch.arange(1, nt + 1, device=dev, dtype=torch.float64)
    for s in range(0, nq, rows):
        e = min(s + rows, nq)
        q = _to_device(queries[s:e], engine)
        qp = _popcounts(q)
        keys = torch.empty((e - s, nt), dtype=torch.int64, device=dev)
        for start, block in _blocks(train, engine.tile_rows):
            d = _distances(q, qp, _to_device(block, engine), engine)
            stop = start + block.shape[0]
            keys[:, start:stop] = (d << shift) + gidx[None, start:stop]
        order = torch.sort(keys, dim=1).values & ((1 << shift) - 1)
        del keys
        ql = torch.from_numpy(ql_all[s:e]).to(dev)
        rel = tl[order] == ql[:, None]
        hits = torch.cumsum(rel, dim=1, dtype=torch.float64)
        n_rel = hits[:, -1] if nt else torch.zeros(e - s, dtype=torch.float64, device=dev)
        total = torch.where(rel, hits / ranks[None, :], 0.0).sum(dim=1)
        ap = torch.where(n_rel > 0, total / n_rel.clamp(min=1), torch.nan)
        out[s:e] = ap.cpu().numpy()
    return out
