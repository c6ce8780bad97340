"""An on-disk cache of perturbations, so repeated runs and experiments reuse the same draws.

One SQLite file, ``<cache_dir>/perturbations.sqlite`` (default ``$SUA_CACHE_DIR/perturbations``
or ``~/.cache/sua/perturbations``), holds a row per

    (config hash, key),  key = sha256(json([sha256(text), input_id, seed, k]))
    config hash = sha256(sua version + "\\n" + config)[:16],  config = repr(perturber) by default

with the K records as JSON. A perturber's ``repr`` names its whole configuration (families,
weights, constraints, protectors); give ``config=`` explicitly when it cannot see a change that
matters (a model's weights retrained under the same path, for the adversarial family).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import sua
from sua.perturb.base import DrawRequest, Perturbation, Perturber, check_request, prepare_draws
from sua.perturb.resources import cache_root


def default_cache_dir() -> Path:
    """``$SUA_CACHE_DIR/perturbations``, else ``~/.cache/sua/perturbations``."""
    return cache_root() / "perturbations"


def connect_store(path: Path) -> sqlite3.Connection:
    """A connection to the SQLite file ``path`` shared by concurrent processes (write-ahead log;
    a writer waits up to 60 s for another)."""
    # a Ray actor unpickles its copy in one thread and draws in another; the module's
    # connections are serialised (sqlite3.threadsafety 3), and each copy draws in turn
    db = sqlite3.connect(path, timeout=60, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def store_key(text: str) -> str:
    """The key of ``text`` in a store: ``sha256(utf-8 bytes)`` as hex (fixed length whatever
    the text's, so a long article indexes as cheaply as a word)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CachedPerturber:
    """Wrap any :class:`~sua.perturb.base.Perturber`: ``perturb`` returns the stored records
    when (text, input_id, seed, k, config) was seen before, else computes and stores them.

    ``hits`` and ``misses`` count lookups since construction.

    >>> import tempfile
    >>> from sua.perturb import TokenPerturber
    >>> cached = CachedPerturber(TokenPerturber(), tempfile.mkdtemp())
    >>> a = cached.perturb("A man plays.", 2, input_id="x", seed=0)
    >>> a == cached.perturb("A man plays.", 2, input_id="x", seed=0)
    True
    """

    def __init__(self, perturber: Perturber, cache_dir: str | os.PathLike[str] | None = None, *,
                 config: str | None = None) -> None:
        self.perturber = perturber
        self.family = getattr(perturber, "family", "cached")
        self.config = repr(perturber) if config is None else config
        self.config_hash = store_key(f"{sua.__version__}\n{self.config}")[:16]
        self.path = Path(cache_dir if cache_dir is not None else default_cache_dir()) / "perturbations.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = self._connect()
        self.hits = 0
        self.misses = 0

    def _connect(self) -> sqlite3.Connection:
        db = connect_store(self.path)
        with db:
            db.execute("CREATE TABLE IF NOT EXISTS draws (config TEXT, key TEXT, records TEXT, "
                       "PRIMARY KEY (config, key))")
            db.execute("CREATE TABLE IF NOT EXISTS configs (config TEXT PRIMARY KEY, description TEXT)")
            db.execute("INSERT OR IGNORE INTO configs VALUES (?, ?)", (self.config_hash, self.config))
        return db

    def __getstate__(self) -> dict:
        """Pickled without its connection (for worker processes); each copy reconnects."""
        return {k: v for k, v in self.__dict__.items() if k != "_db"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._db = self._connect()

    def __repr__(self) -> str:
        return f"CachedPerturber({self.perturber!r})"

    def _key(self, text: str, k: int, input_id: str, seed: int, call: str = "perturb") -> str:
        # perturb keys keep their original form, so caches written before propose existed still hit
        parts = [store_key(text), input_id, int(seed), int(k)] + ([] if call == "perturb" else [call])
        return store_key(json.dumps(parts))

    def _lookup(self, key: str) -> str | None:
        row = self._db.execute("SELECT records FROM draws WHERE config = ? AND key = ?",
                               (self.config_hash, key)).fetchone()
        return None if row is None else row[0]

    def has(self, text: str, k: int, *, input_id: str, seed: int) -> bool:
        """Whether ``perturb`` with these arguments would be a cache hit."""
        return self._lookup(self._key(text, k, input_id, seed)) is not None

    def has_proposals(self, text: str, n: int, *, input_id: str, seed: int) -> bool:
        """Whether ``propose`` with these arguments would be a cache hit."""
        return self._lookup(self._key(text, n, input_id, seed, "propose")) is not None

    def prepare_draws(self, requests: Sequence[DrawRequest], k: int) -> None:
        """The wrapped perturber's batched work (:func:`~sua.perturb.base.prepare_draws`) for
        ``requests`` (pass only those that will miss)."""
        prepare_draws(self.perturber, requests, k)

    def perturb(self, text: str, k: int, *, input_id: str, seed: int) -> list[Perturbation]:
        check_request(text, k, input_id, seed)
        return self._cached(self._key(text, k, input_id, seed),
                            lambda: self.perturber.perturb(text, k, input_id=input_id, seed=seed))

    def propose(self, text: str, n: int, *, input_id: str, seed: int) -> list[Perturbation]:
        """The wrapped :class:`~sua.perturb.base.Proposer`'s ``propose``, cached like ``perturb``
        (a model-free family inside a mixture is then drawn once per input and shared by every
        model that mixes it)."""
        check_request(text, n, input_id, seed)
        return self._cached(self._key(text, n, input_id, seed, "propose"),
                            lambda: self.perturber.propose(text, n, input_id=input_id, seed=seed))

    def _cached(self, key: str, compute: Callable[[], list[Perturbation]]) -> list[Perturbation]:
        stored = self._lookup(key)
        if stored is not None:
            self.hits += 1
            return [Perturbation(**r) for r in json.loads(stored)]
        self.misses += 1
        records = compute()
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO draws VALUES (?, ?, ?)",
                             (self.config_hash, key, json.dumps([r.to_dict() for r in records])))
        return records

    def close(self) -> None:
        self._db.close()
