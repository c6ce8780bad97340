"""JSON Lines in and out: streaming readers, example loading, and append-only writers; CSV and
Parquet files are read too, by extension (:func:`read_table`).

Everything here streams: memory stays bounded by one line (readers) or one chunk
(writers), whatever the file size.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sua.errors import SUAInputError
from sua.inputs import Example


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)`` for each non-blank line of a JSONL file.

    A missing file, bytes that are not UTF-8, a line that is not JSON, or a line that is not
    an object raises :class:`SUAInputError` naming the file and the 1-based line number (and,
    for bad bytes, their byte offset in the file).
    """
    p = Path(path)
    if not p.is_file():
        raise SUAInputError(f"data file not found: {p}")
    offset = 0
    with p.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise SUAInputError(f"{p}:{lineno}: not UTF-8 (byte 0x{raw[exc.start]:02x} at byte "
                                    f"offset {offset + exc.start}); save the file as UTF-8") from None
            offset += len(raw)
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SUAInputError(f"{p}:{lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise SUAInputError(f"{p}:{lineno}: expected a JSON object, got {type(record).__name__}")
            yield lineno, record


#: Prefix of a Hugging Face hub dataset source: ``hf:NAME[@CONFIG]:SPLIT``.
HUB_PREFIX = "hf:"


def is_hub_source(source: str | os.PathLike[str]) -> bool:
    """True for ``hf:NAME[@CONFIG]:SPLIT`` sources (read with the ``datasets`` library)."""
    return isinstance(source, str) and source.startswith(HUB_PREFIX)


def check_source(source: str | os.PathLike[str]) -> None:
    """Fail early, before any model is loaded, if a data source cannot be read."""
    if not is_hub_source(source) and not Path(source).is_file():
        raise SUAInputError(f"data file not found: {source}")


def read_hub_dataset(source: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(row_number, record)`` from a hub dataset ``hf:NAME[@CONFIG]:SPLIT``.

    Class-label columns are turned into their names (``-1``, "no gold label", into
    ``None``), so records look like this project's JSONL files. Needs the internet and
    ``pip install datasets``.
    """
    name, _, split = source[len(HUB_PREFIX):].rpartition(":")
    if not name or not split:
        raise SUAInputError(f"hub dataset source must look like hf:NAME[@CONFIG]:SPLIT, got {source!r}")
    path, _, config = name.partition("@")
    try:
        import datasets
    except ImportError:
        raise SUAInputError(f"reading {source} needs the `datasets` package: pip install datasets") from None
    try:
        ds = datasets.load_dataset(path, config or None, split=split)
    except Exception as exc:  # hub, network and config errors all end here
        raise SUAInputError(f"could not load {source}: {exc}") from None
    yield from dataset_rows(ds)


def dataset_rows(ds: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(row_number, record)`` from a ``datasets.Dataset``, class-label ids turned into their
    names (``-1``, "no gold label", into ``None``)."""
    names = {col: feat.names for col, feat in ds.features.items() if hasattr(feat, "names")}
    for i, row in enumerate(ds, start=1):
        yield i, {k: (None if v is None or v < 0 else names[k][v]) if k in names else v
                  for k, v in row.items()}


#: File extensions read as tables rather than JSON Lines.
TABLE_SUFFIXES = (".csv", ".parquet")


def read_table(path: str | os.PathLike[str], chunk_rows: int = 4096) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(row_number, record)`` from a CSV (header row, every cell a string, empty cells
    ``None``) or Parquet file, ``chunk_rows`` rows in memory at a time. Needs ``pandas``
    (CSV) or ``pyarrow`` (Parquet): ``pip install sua[data]``."""
    p = Path(path)
    if not p.is_file():
        raise SUAInputError(f"data file not found: {p}")
    n = 0
    try:
        if p.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            batches = (b.to_pylist() for b in pq.ParquetFile(p).iter_batches(batch_size=chunk_rows))
        else:
            import pandas as pd

            batches = (chunk.astype(object).where(chunk.notna(), None).to_dict("records")
                       for chunk in pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""],
                                                chunksize=chunk_rows))
        for batch in batches:
            for record in batch:
                n += 1
                yield n, record
    except ImportError as exc:
        raise SUAInputError(f"reading {p} needs {exc.name}: pip install 'sua[data]'") from None
    except (ValueError, OSError) as exc:
        raise SUAInputError(f"{p}: not a readable {p.suffix[1:].upper()} table ({exc})") from None


def read_records(source: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Records from a JSONL, CSV or Parquet file (by extension) or a hub dataset source
    (see :func:`read_hub_dataset`)."""
    if is_hub_source(source):
        return read_hub_dataset(source)
    return read_table(source) if Path(source).suffix.lower() in TABLE_SUFFIXES else read_jsonl(source)


def _field(record: dict[str, Any], name: str, where: str) -> Any:
    if name not in record:
        raise SUAInputError(f"{where}: field {name!r} is missing (fields present: "
                            f"{', '.join(sorted(record))}); choose the field with the matching option")
    return record[name]


def iter_examples(
    source: str | os.PathLike[str],
    *,
    text_field: str = "text",
    pair_field: str | None = None,
    label_field: str | None = "label",
    id_field: str = "id",
    limit: int | None = None,
) -> Iterator[Example]:
    """Stream :class:`Example` records from a JSONL file or a hub source ``hf:NAME:SPLIT``.

    ``id_field`` missing from a record falls back to ``"line-<n>"``; a ``label_field``
    value of ``null`` gives an unlabeled example (AmbiEnt's multi-label items). Every other
    field is kept in ``Example.meta``.
    """
    n = 0
    for lineno, record in read_records(source):
        if limit is not None and n >= limit:
            return
        yield example_from_record(record, f"{source}:{lineno}", default_id=f"line-{lineno}",
                                  text_field=text_field, pair_field=pair_field,
                                  label_field=label_field, id_field=id_field)
        n += 1


def example_from_record(record: dict[str, Any], where: str, *, default_id: str, text_field: str = "text",
                        pair_field: str | None = None, label_field: str | None = "label",
                        id_field: str = "id") -> Example:
    """One :class:`Example` from a record (a JSONL line, a table row, a dict), as
    :func:`iter_examples` reads them; ``where`` prefixes any error, ``default_id`` is the id of a
    record without ``id_field``."""
    used = {text_field, pair_field, label_field, id_field}
    label = record.get(label_field) if label_field else None
    try:
        return Example(
            id=str(record.get(id_field, default_id)),
            text=_field(record, text_field, where),
            pair=_field(record, pair_field, where) if pair_field else None,
            label=None if label is None else str(label),
            meta={k: v for k, v in record.items() if k not in used},
        )
    except SUAInputError as exc:
        message = str(exc)
        raise SUAInputError(message if message.startswith(where) else f"{where}: {message}") from None


class JsonlAppender:
    """Append records to a JSONL file, one flushed line each, so a crash loses at most
    the line being written. Use as a context manager."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        """Append one record; NaN or Infinity anywhere in it is refused (strict JSON only)."""
        try:
            line = json.dumps(record, ensure_ascii=False, allow_nan=False)
        except ValueError:
            raise SUAInputError(f"{self.path}: record {record.get('id')!r} holds NaN or Infinity, which "
                                "is never written (a custom divergence or model output is not finite); "
                                "the records before it are kept") from None
        self._fh.write(line + "\n")

    def flush(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()
        self.close()


def finished_ids(path: str | os.PathLike[str], id_field: str = "id") -> set[str]:
    """Ids of the complete records in an output file being resumed.

    A last line cut off by an interruption (no trailing newline or not valid JSON) is
    removed from the file so appending continues cleanly; every complete line is kept.
    """
    p = Path(path)
    if not p.exists():
        return set()
    data = p.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep < len(data):
        with p.open("r+b") as fh:
            fh.truncate(keep)
    return _line_ids(p, data[:keep], id_field)


def complete_ids(path: str | os.PathLike[str], id_field: str = "id") -> set[str]:
    """Ids of the complete (newline-terminated) records of an output file, without touching it:
    for reading a file another process may still be appending to (its last line then is not
    counted)."""
    p = Path(path)
    if not p.exists():
        return set()
    data = p.read_bytes()
    return _line_ids(p, data[: data.rfind(b"\n") + 1], id_field)


def _line_ids(p: Path, data: bytes, id_field: str) -> set[str]:
    ids: set[str] = set()
    for lineno, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            ids.add(str(json.loads(line)[id_field]))
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
            raise SUAInputError(f"{p}:{lineno}: existing output line is not a score record; "
                                "remove the file or choose another --out") from None
    return ids
