"""A bounded in-memory cache for batched functions: compute only the missing keys, in one call."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BatchMemo(Generic[K, V]):
    """``memo(keys)`` = ``[compute(keys)[i] ...]``, computing each distinct missing key once.

    ``compute`` takes a list of distinct keys and returns one value per key, in order. The
    least recently used entries beyond ``maxsize`` are dropped.
    """

    def __init__(self, compute: Callable[[list[K]], Sequence[V]], maxsize: int = 50_000) -> None:
        self.compute = compute
        self.maxsize = maxsize
        self._store: OrderedDict[K, V] = OrderedDict()

    def __call__(self, keys: Sequence[K]) -> list[V]:
        missing = list(dict.fromkeys(k for k in keys if k not in self._store))
        found = dict(zip(missing, self.compute(missing), strict=True)) if missing else {}
        out = []
        for key in keys:
            value = found[key] if key in found else self._store[key]
            self._store[key] = value
            self._store.move_to_end(key)
            out.append(value)
        while len(self._store) > self.maxsize:
            self._store.popitem(last=False)
        return out
