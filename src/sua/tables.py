"""The input front door and flat result tables.

:func:`as_examples` turns what users hold — strings, ``(text, pair)`` tuples, dicts, a pandas
``DataFrame``, a ``datasets.Dataset`` or :class:`~sua.inputs.Example` objects — into examples,
with the field names as keywords, exactly as a JSONL file with the same fields is read.
:func:`records_frame` turns score records (objects or the dicts of a JSONL file) into a flat
pandas DataFrame, one row per input, and :func:`rewrites_frame` into a long one, one row per
rewrite; :func:`write_table` writes either as CSV or Parquet.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sua.errors import SUAInputError
from sua.inputs import Example
from sua.io import dataset_rows, example_from_record

#: What :func:`as_examples` accepts, for error messages.
ACCEPTED = ("a list of strings, (text, pair) tuples, dicts or Example objects, a pandas DataFrame "
            "or a datasets.Dataset")
#: Output formats of :func:`write_table`.
TABLE_FORMATS = ("csv", "parquet")


def _is_instance(obj: Any, module: str, name: str) -> bool:
    """``isinstance(obj, module.name)`` without importing ``module`` when the user has not."""
    mod = sys.modules.get(module)
    return mod is not None and isinstance(obj, getattr(mod, name))


def _rows(inputs: Any) -> Iterator[tuple[int, Any]]:
    """``(1-based position, item)``: table rows as dicts, anything else item by item."""
    if isinstance(inputs, (str, bytes)):
        raise SUAInputError(f"expected {ACCEPTED}; got a single string — wrap it in a list: [text]")
    if _is_instance(inputs, "pandas", "DataFrame"):
        frame = inputs.astype(object).where(inputs.notna(), None)
        return enumerate(frame.to_dict("records"), start=1)
    if _is_instance(inputs, "datasets", "Dataset"):
        return dataset_rows(inputs)
    if isinstance(inputs, Mapping) or not isinstance(inputs, Iterable):
        raise SUAInputError(f"expected {ACCEPTED}; got {type(inputs).__name__}")
    return enumerate(inputs, start=1)


def as_examples(inputs: Any, *, text_field: str = "text", pair_field: str | None = None,
                label_field: str | None = "label", id_field: str = "id") -> Iterator[Example]:
    """Stream :class:`~sua.inputs.Example` objects from ``inputs`` (lazily, for iterables).

    Items: an ``Example`` as is; a string ``text``; a tuple ``(text, pair)`` (NLI: premise,
    hypothesis); a dict, DataFrame row or Dataset row read with the field names given, like a
    JSONL record (:func:`sua.io.iter_examples`: the label as a string, other fields in
    ``meta``). Inputs without an id get their 0-based position as id: ``"0"``, ``"1"``, ...
    Anything else raises :class:`~sua.errors.SUAInputError` naming what is accepted.

    >>> [(ex.id, ex.text, ex.pair) for ex in as_examples(["a", ("b", "c")])]
    [('0', 'a', None), ('1', 'b', 'c')]
    """
    fields = {"text_field": text_field, "pair_field": pair_field, "label_field": label_field,
              "id_field": id_field}
    for n, item in _rows(inputs):
        default_id = str(n - 1)
        if isinstance(item, Example):
            yield item
        elif isinstance(item, str):
            yield Example(id=default_id, text=item)
        elif isinstance(item, tuple) and len(item) == 2 and all(isinstance(t, str) for t in item):
            yield Example(id=default_id, text=item[0], pair=item[1])
        elif isinstance(item, Mapping):
            yield example_from_record(dict(item), f"input {n - 1}", default_id=default_id, **fields)
        else:
            raise SUAInputError(f"input {n - 1}: expected a string, a (text, pair) tuple of strings, "
                                f"a dict or an Example, got {type(item).__name__}: {item!r:.80}")


def _record_dict(record: Any) -> dict[str, Any]:
    if isinstance(record, Mapping):
        return dict(record)
    if callable(getattr(record, "to_dict", None)):
        return record.to_dict()
    raise SUAInputError(f"expected score records (ScoreRecord objects or dicts), got {type(record).__name__}")


def _prob_columns(probs: Sequence[float], labels: Sequence[str] | None) -> dict[str, float]:
    names = labels if labels is not None else [str(j) for j in range(len(probs))]
    if len(names) != len(probs):
        raise SUAInputError(f"{len(names)} labels for {len(probs)} probabilities: pass the model's labels")
    return {f"p_{name}": float(p) for name, p in zip(names, probs, strict=True)}


def records_frame(records: Iterable[Any], labels: Sequence[str] | None = None) -> Any:
    """A flat pandas DataFrame, one row per input: every scalar field of the records (``id``,
    ``label``, ``prediction``, ``correct``, ``sensitivity``, ``entropy``, ``sua``, ``signature``,
    the baselines...), ``n_rewrites``, and ``p_<label>`` for each class probability on x
    (``p_0``, ``p_1``... without ``labels``). Nested fields go to :func:`rewrites_frame`.

    >>> records_frame([{"id": "a", "sua": 0.1, "probs": [0.2, 0.8], "perturbations": []}],
    ...               labels=["neg", "pos"]).to_dict("records")
    [{'id': 'a', 'sua': 0.1, 'n_rewrites': 0, 'p_neg': 0.2, 'p_pos': 0.8}]
    """
    import pandas as pd

    rows = []
    for record in records:
        rec = _record_dict(record)
        row = {k: v for k, v in rec.items() if not isinstance(v, (list, dict))}
        row["n_rewrites"] = len(rec.get("perturbations") or [])
        row.update(_prob_columns(rec.get("probs") or [], labels))
        rows.append(row)
    return pd.DataFrame(rows)


def rewrites_frame(records: Iterable[Any], labels: Sequence[str] | None = None) -> Any:
    """A long pandas DataFrame, one row per rewrite x'_k: the input ``id``, ``k`` (0-based), the
    rewrite's scalar fields (``text``, ``kind``, ``family``, ``divergence``, ``prediction``,
    ``correct``), ``params`` as a JSON string and ``p_<label>`` for p(·|x'_k)."""
    import pandas as pd

    rows = []
    for record in records:
        rec = _record_dict(record)
        for k, pert in enumerate(rec.get("perturbations") or []):
            row = {"id": rec["id"], "k": k}
            row.update({n: v for n, v in pert.items() if not isinstance(v, (list, dict))})
            row["params"] = json.dumps(pert.get("params") or {}, sort_keys=True)
            row.update(_prob_columns(pert.get("probs") or [], labels))
            rows.append(row)
    return pd.DataFrame(rows)


def write_table(frame: Any, path: str | os.PathLike[str], fmt: str | None = None) -> Path:
    """Write a DataFrame as ``fmt`` (``csv`` or ``parquet``; default from the file extension)."""
    out = Path(path)
    fmt = fmt or out.suffix.lower().lstrip(".")
    if fmt not in TABLE_FORMATS:
        raise SUAInputError(f"table format must be one of {TABLE_FORMATS}, got {fmt!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        frame.to_csv(out, index=False)
    else:
        frame.to_parquet(out, index=False)
    return out


def write_score_tables(scores: str | os.PathLike[str], fmt: str) -> list[Path]:
    """Write a ``sua score`` JSONL output as two ``fmt`` tables beside it:
    ``<stem>.<fmt>`` (:func:`records_frame`) and ``<stem>.rewrites.<fmt>`` (:func:`rewrites_frame`),
    with ``p_<label>`` columns when the run's ``.meta.json`` names the labels."""
    from sua.io import read_jsonl

    src = Path(scores)
    meta = src.with_name(src.stem + ".meta.json")
    labels = json.loads(meta.read_text(encoding="utf-8")).get("config", {}).get("labels") \
        if meta.is_file() else None
    records = [record for _, record in read_jsonl(src)]
    return [write_table(records_frame(records, labels), src.with_suffix(f".{fmt}"), fmt),
            write_table(rewrites_frame(records, labels), src.with_name(f"{src.stem}.rewrites.{fmt}"), fmt)]
