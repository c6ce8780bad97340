"""Perturbation throughput: sua's token family against nlpaug, and back-translation sentences/s.

Run (nlpaug only in a throwaway folder, never a project dependency)::

    python -m pip install --target /tmp/nlpaug_pkgs --no-deps nlpaug==1.1.11 pandas python-dateutil \\
        pytz tzdata gdown filelock beautifulsoup4 soupsieve
    PYTHONPATH=/tmp/nlpaug_pkgs python benchmarks/bench_perturb.py [--n 1000] [--k 1,8]

On the same N SNLI test hypotheses, each side makes, per sentence, K keyboard-typo rewrites and
K WordNet-synonym rewrites:

- sua: ``TokenPerturber(kinds=("typo",))`` and ``TokenPerturber(kinds=("synonym",))`` (POS from
  spaCy, frequent senses, inflection, antonyms out, GloVe floor), tagging included in the time
  (one batched ``prepare`` call, then per-sentence draws);
- nlpaug 1.1.11: ``KeyboardAug`` (letters only) and ``SynonymAug(aug_src="wordnet")`` with
  ``augment(s, n=K)``, its POS tagger patched to the same spaCy model (nltk's tagger is not
  installable offline; perturb.md §3.3), reading the same WordNet.

Resources (WordNet, spaCy, GloVe, nlpaug's keyboard map) load before the clock starts; each side
is timed ``--repeats`` times on fresh objects and the best run is kept (the machine is shared).
Back-translation: ``BackTranslator(threads=2)`` round trips (en -> pt -> en) of the N sentences
with an empty cache.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

import numpy as np

from sua.eval.data import default_data_dir
from sua.io import iter_examples
from sua.perturb import BackTranslator, SynonymSource, TokenPerturber
from sua.perturb.kinds import KINDS, Synonym
from sua.perturb.resources import glove, pos_tagger, wordnet
from sua.perturb.synonyms import _inflect, _lemmatise


def sentences(n: int) -> list[str]:
    path = default_data_dir() / "nli/snli/test.jsonl"
    return [ex.text for ex in iter_examples(path, text_field="hypothesis", label_field=None, limit=n)]


def best_of(repeats: int, run: Callable[[], None]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def run_sua(texts: list[str], k: int) -> None:
    KINDS["synonym"] = Synonym(SynonymSource())  # cold caches: tagging and lookups are part of the cost
    _lemmatise.cache_clear()
    _inflect.cache_clear()
    typo, synonym = TokenPerturber(kinds=("typo",)), TokenPerturber(kinds=("synonym",))
    synonym.prepare(texts)
    for i, text in enumerate(texts):
        typo.perturb(text, k, input_id=str(i), seed=0)
        synonym.perturb(text, k, input_id=str(i), seed=0)


def nlpaug_runner(k: int) -> Callable[[list[str]], None]:
    import nlpaug.augmenter.char as nac
    import nlpaug.augmenter.word as naw
    from nlpaug.model.word_dict import WordNet

    nlp = pos_tagger()

    def spacy_tags(cls, tokens):
        return [(t.text, t.tag_) for t in nlp(nlp.make_doc(" ".join(tokens)))]

    WordNet.pos_tag = classmethod(spacy_tags)
    keyboard = nac.KeyboardAug(include_special_char=False, include_numeric=False, include_upper_case=False)
    synonym = naw.SynonymAug(aug_src="wordnet")

    def run(texts: list[str]) -> None:
        random.seed(0)
        np.random.seed(0)
        for text in texts:
            keyboard.augment(text, n=k)
            synonym.augment(text, n=k)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--k", default="1,8", help="rewrites per sentence and kind, comma-separated")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    texts = sentences(args.n)
    n = len(texts)
    wordnet(), pos_tagger(), glove()  # one-time loads, outside every timer
    print(f"{n} SNLI test hypotheses; per sentence K typo + K synonym rewrites (best of {args.repeats})")
    print(f"{'':38}{'seconds':>9}{'sentences/s':>13}{'sua speed-up':>14}")
    for k in (int(v) for v in args.k.split(",")):
        run_nlpaug = nlpaug_runner(k)
        run_sua(texts[:20], k)
        run_nlpaug(texts[:20])
        t_sua = best_of(args.repeats, lambda k=k: run_sua(texts, k))
        t_aug = best_of(args.repeats, lambda run=run_nlpaug: run(texts))
        label = f"K={k} sua token (typo + WordNet)"
        print(f"{label:38}{t_sua:>9.2f}{n / t_sua:>13.1f}{t_aug / t_sua:>13.1f}x")
        print(f"{f'K={k} nlpaug Keyboard + SynonymAug':38}{t_aug:>9.2f}{n / t_aug:>13.1f}")
    translator = BackTranslator(threads=2)
    translator.round_trip(["warm up the engine ."])
    t_bt = best_of(1, lambda: translator.round_trip(texts))
    print(f"{'back-translation en->pt->en, 2 threads':38}{t_bt:>9.2f}{n / t_bt:>13.1f}")


if __name__ == "__main__":
    main()
