"""`sua explore`: one self-contained HTML page over a file of score records.

The page (``templates/explorer.html``: plain SVG and vanilla JavaScript, no network) holds a
sortable, filterable table of inputs (S, worst S, H, SUA, max prob, signature, correct, and the
abstain decision when a decision file is given); a row opens its K rewrites with their kind, the
edit marked word by word against the original, the prediction and D(p(·|x) ‖ p(·|x'_k)); an S–H
scatter with a symlog S axis whose points select rows; and badges with the accuracy and the
failure AUROC of each score (:func:`sua.eval.summary.summarize_records`).

It reads the records every scorer writes (:class:`~sua.records.ScoreRecord`: classifier/NLI,
extractive QA and generative answers) through :func:`~sua.records.read_scores`, files written
before the record was shared included. Records do not carry the clean input, so the original text
is read back from the data file named in ``<scores stem>.meta.json`` (or ``data``).
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

from sua.errors import SUAInputError
from sua.eval.json_values import finite_or_none
from sua.eval.summary import summarize_records
from sua.io import check_source, iter_examples, read_jsonl
from sua.manifest import meta_path_for
from sua.records import PerturbationResult, Records, ScoreTable, read_scores
from sua.tasks import rewritten_side, rewritten_source

#: A rewrite as the page receives it: [kind, text, prediction, divergence, correct].
Rewrite = list[Any]


def _original_inputs(scores: Path, data: str | os.PathLike[str] | None) -> dict[str, tuple[str, str | None]]:
    """id → (the rewritten side of the clean input, the side kept as it is), from the data file.

    The data file and its fields come from the scores' ``.meta.json``; ``data`` replaces the
    file. Empty when neither names a readable file (the page then shows rewrites without a diff).
    """
    meta_file = meta_path_for(scores)
    config = json.loads(meta_file.read_text(encoding="utf-8")).get("config", {}) if meta_file.exists() else {}
    source = str(data) if data is not None else config.get("data")
    if source is None or (data is None and not Path(source).exists()):
        return {}
    check_source(source)
    fields = {k: config[k] for k in ("text_field", "pair_field", "label_field") if config.get(k)}
    perturb_field = config.get("perturb_field", "auto")
    out: dict[str, tuple[str, str | None]] = {}
    for ex in iter_examples(source, **fields):
        side = "text" if ex.pair is None else rewritten_side(ex, perturb_field)
        out[ex.id] = (rewritten_source(ex, side), ex.text if side == "pair" else ex.pair)
    return out


def _rewrite(pert: PerturbationResult) -> Rewrite:
    """One perturbation as [kind, text, prediction, divergence, correct]; a generative rewrite's
    prediction is its most frequent sampled answer."""
    prediction = pert.prediction
    if prediction is None and pert.samples:
        prediction = Counter(pert.samples).most_common(1)[0][0]
    divergence = 0.0 if math.isnan(pert.divergence) else pert.divergence
    return [pert.kind, pert.text, prediction, divergence, pert.correct]


def explorer_rows(records: Records,
                  originals: dict[str, tuple[str, str | None]] | None = None,
                  decisions: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The page's rows: one compact dict per score record (short keys keep 10,000 inputs small).

    ``o``/``c``: the rewritten side of the clean input and the kept side (``None`` when unknown);
    ``p``: the prediction (a generative record's greedy answer); ``y``: the gold label, or a
    generative record's distinct gold answers joined by `` | ``; ``r``: its rewrites
    (:func:`_rewrite`); ``a``/``why``: the abstain decision and its reason, when ``decisions``
    holds the record's id. ``records``: a :class:`~sua.records.ScoreTable` or the records to read.
    """
    table = ScoreTable.of(records)
    originals, decisions = originals or {}, decisions or {}
    numbers = {name: [None if math.isnan(v) else float(v) for v in table.numbers[name]]
               for name in ("sensitivity", "sensitivity_worst", "entropy", "sua", "max_prob")}
    rows = []
    for i, rid in enumerate(table.ids):
        original, kept = originals.get(rid, (None, None))
        decision = decisions.get(rid)
        gold = table.gold[i]
        rows.append({
            "id": rid, "o": original, "c": kept, "p": table.prediction[i],
            "y": table.label[i] if gold is None else " | ".join(dict.fromkeys(gold)),
            "ok": None if table.correct[i] < 0 else bool(table.correct[i]),
            "S": numbers["sensitivity"][i], "Sw": numbers["sensitivity_worst"][i],
            "H": numbers["entropy"][i], "SUA": numbers["sua"][i], "mp": numbers["max_prob"][i],
            "sig": table.signature[i],
            "a": None if decision is None else bool(decision["abstain"]),
            "why": None if decision is None else decision.get("reason"),
            "r": [_rewrite(p) for p in table.perturbations[i]],
        })
    return rows


def _read_decisions(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """id → decision, from a `sua abstain apply` output."""
    decisions = {}
    for lineno, rec in read_jsonl(path):
        if "id" not in rec or "abstain" not in rec:
            raise SUAInputError(f"{path}:{lineno} is not a decision record (needs id and abstain); "
                                "--decisions reads `sua abstain apply` output")
        decisions[str(rec["id"])] = rec
    return decisions


def explorer_html(rows: list[dict[str, Any]], summary: dict[str, Any], title: str) -> str:
    """The page: the template with the rows, the summary and the title embedded as JSON."""
    payload = json.dumps(finite_or_none({"title": title, "summary": summary, "rows": rows}),
                         ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    # "</" cannot end the <script> element early, nor "<!--" open a comment inside it.
    payload = payload.replace("</", "<\\/").replace("<!--", "<\\!--")
    template = resources.files("sua.eval").joinpath("templates/explorer.html").read_text(encoding="utf-8")
    return template.replace("__SUA_DATA__", payload)


def write_explorer(scores: str | os.PathLike[str], out: str | os.PathLike[str] | None = None, *,
                   decisions: str | os.PathLike[str] | None = None,
                   data: str | os.PathLike[str] | None = None) -> Path:
    """Write the explorer page for a ``sua score`` output; returns its path.

    ``out`` defaults to ``<scores stem>.explorer.html`` beside the scores; it may not be the
    scores file itself. ``decisions``: a ``sua abstain apply`` output, joined by id.
    """
    scores_path = Path(scores)
    out_path = Path(out) if out is not None else scores_path.with_name(scores_path.stem + ".explorer.html")
    if out_path.resolve() == scores_path.resolve():
        raise SUAInputError(f"--out {out_path} is the scores file itself; choose another name")
    table = read_scores(scores_path)
    summary = summarize_records(table)
    rows = explorer_rows(table, _original_inputs(scores_path, data),
                         _read_decisions(decisions) if decisions is not None else None)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(explorer_html(rows, summary, scores_path.name), encoding="utf-8")
    return out_path
