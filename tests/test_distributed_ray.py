"""`--engine ray` on a local 2-CPU Ray instance. Scoring: the same records as the local engine,
resume after an interrupted job, and a killed actor that loses and duplicates nothing.
Perturbing: the same file as the local engine, the disk cache shared, resume. Experiment units:
the same score files and tables as a local `sua reproduce`."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import signal
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")


from sua.cli import main  # noqa: E402
from sua.distributed import RayScoringEngine, RayUnitEngine  # noqa: E402
from sua.errors import SUAInputError  # noqa: E402
from sua.eval.reproduce import ReproduceConfig, reproduce  # noqa: E402
from sua.perturb import TokenPerturber  # noqa: E402
from sua.scoring import Fields, SUAScorer, meta_path_for  # noqa: E402

LABELS = ["entailment", "neutral", "contradiction"]


class LoggedHashModel:
    """A deterministic model (probabilities from a hash of each input) that appends the number
    of inputs of each call to ``log``, and with ``kill_once`` SIGKILLs the first process that
    calls it (the ``kill_once`` file marks that it happened)."""

    labels = LABELS

    def __init__(self, log: Path | None = None, kill_once: Path | None = None) -> None:
        self.log, self.kill_once = log, kill_once

    def predict_proba(self, inputs: list) -> np.ndarray:
        if self.kill_once is not None:
            try:
                os.close(os.open(self.kill_once, os.O_CREAT | os.O_EXCL))
                os.kill(os.getpid(), signal.SIGKILL)
            except FileExistsError:
                pass
        if self.log is not None:
            with open(self.log, "a") as fh:
                fh.write(f"{len(inputs)}\n")
        out = []
        for x in inputs:
            logits = np.frombuffer(hashlib.sha256(json.dumps(x).encode()).digest()[:3], dtype=np.uint8) / 64
            out.append(np.exp(logits) / np.exp(logits).sum())
        return np.asarray(out)


@pytest.fixture(scope="module", autouse=True)
def ray_session():
    """A small local instance, as on a 2-CPU CI box; this module's classes are shipped by value."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20, log_to_driver=False)
    yield
    ray.shutdown()
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def _score(snli_dev: Path, out: Path, make_model, engine=None, limit: int = 40) -> list[dict]:
    scorer = SUAScorer(make_model(), TokenPerturber(), k=4, lam=0.5, seed=3, chunk_size=16)
    scorer.score_file(snli_dev, out, Fields("premise", "hypothesis"), limit=limit, progress=False,
                      engine=engine)
    return [json.loads(line) for line in out.read_text().splitlines()]


def _by_id(records: list[dict]) -> dict[str, dict]:
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), "no id is written twice"
    return {r["id"]: r for r in records}


def test_ray_records_equal_local_records(snli_dev, tmp_path):
    local = _score(snli_dev, tmp_path / "local.jsonl", LoggedHashModel)
    engine = RayScoringEngine(LoggedHashModel, num_workers=2, batch_size=8)
    distributed = _score(snli_dev, tmp_path / "ray.jsonl", LoggedHashModel, engine)
    assert len(local) == len(distributed) == 40
    assert _by_id(distributed) == _by_id(local), "same rewrites and numbers per id"
    assert (json.loads(meta_path_for(tmp_path / "ray.jsonl").read_text())["config"]
            == json.loads(meta_path_for(tmp_path / "local.jsonl").read_text())["config"])


def test_ray_job_resumes_an_interrupted_file(snli_dev, tmp_path):
    reference = _score(snli_dev, tmp_path / "full.jsonl", LoggedHashModel, limit=30)
    out = tmp_path / "scores.jsonl"
    lines = (tmp_path / "full.jsonl").read_text().splitlines()
    out.write_text("\n".join(lines[:10] + [lines[10][:40]]))  # 10 records and a cut line
    meta_path_for(out).write_text(meta_path_for(tmp_path / "full.jsonl").read_text())

    log = tmp_path / "calls.log"
    engine = RayScoringEngine(functools.partial(LoggedHashModel, log), num_workers=1, batch_size=8)
    resumed = _score(snli_dev, out, LoggedHashModel, engine, limit=30)
    assert resumed[:10] == reference[:10], "finished records are kept as they were"
    assert _by_id(resumed) == _by_id(reference)
    # only the 20 missing inputs went to the model: at most (K + 1) model inputs each
    assert 20 < sum(int(n) for n in log.read_text().split()) <= 20 * 5


def test_killed_actor_loses_and_duplicates_nothing(snli_dev, tmp_path):
    reference = _score(snli_dev, tmp_path / "local.jsonl", LoggedHashModel)
    marker = tmp_path / "killed"
    engine = RayScoringEngine(functools.partial(LoggedHashModel, kill_once=marker), num_workers=2,
                              batch_size=8)
    distributed = _score(snli_dev, tmp_path / "ray.jsonl", LoggedHashModel, engine)
    assert marker.exists(), "an actor was killed mid-job"
    assert _by_id(distributed) == _by_id(reference)


def test_user_errors_in_workers_reach_the_driver_as_input_errors(snli_dev, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "premise": "A dog runs.", "hypothesis": "An animal moves.",
                               "label": "maybe"}) + "\n")
    engine = RayScoringEngine(LoggedHashModel, num_workers=1, batch_size=8)
    with pytest.raises(SUAInputError, match="label 'maybe' is not one of"):
        _score(bad, tmp_path / "o.jsonl", LoggedHashModel, engine)


def test_cli_engine_ray_matches_local(nli_model_dir, snli_dev, tmp_path, capsys):
    """`sua score --engine ray` with a real MiniLM classifier: same ids, rewrites and predictions as
    the local engine; probabilities within 1e-6 (other batches pad differently in fp32)."""
    common = ["score", "--model", str(nli_model_dir), "--task", "nli", "--data", str(snli_dev),
              "--limit", "12", "--k", "2", "--batch-size", "8", "--quiet"]
    assert main([*common, "--out", str(tmp_path / "local.jsonl")]) == 0
    assert main([*common, "--out", str(tmp_path / "ray.jsonl"), "--engine", "ray", "--num-workers", "1"]) == 0
    local = _by_id([json.loads(x) for x in (tmp_path / "local.jsonl").read_text().splitlines()])
    distributed = _by_id([json.loads(x) for x in (tmp_path / "ray.jsonl").read_text().splitlines()])
    assert distributed.keys() == local.keys() and len(local) == 12
    for key, rec in local.items():
        other = distributed[key]
        assert [p["text"] for p in other["perturbations"]] == [p["text"] for p in rec["perturbations"]]
        assert other["prediction"] == rec["prediction"]
        np.testing.assert_allclose(other["probs"], rec["probs"], atol=1e-6)
        np.testing.assert_allclose([p["probs"] for p in other["perturbations"]],
                                   [p["probs"] for p in rec["perturbations"]], atol=1e-6)
        assert other["sua"] == pytest.approx(rec["sua"], abs=1e-5)


def test_cli_engine_ray_refuses_language_models(tmp_path, snli_dev, capsys):
    code = main(["score", "--backend", "openai", "--task", "nli", "--data", str(snli_dev), "--out",
                 str(tmp_path / "o.jsonl"), "--engine", "ray"])
    assert code == 2
    assert "--engine ray scores encoder classifiers" in capsys.readouterr().err


def _perturb(snli_dev: Path, out: Path, cache: Path, *extra: str) -> None:
    assert main(["perturb", "--data", str(snli_dev), "--field", "hypothesis", "--family", "token", "--k", "4",
                 "--seed", "2", "--limit", "40", "--out", str(out), "--cache-dir", str(cache), "--quiet",
                 *extra]) == 0


def _cached_draws(cache: Path) -> int:
    with sqlite3.connect(cache / "perturbations.sqlite") as db:
        return db.execute("SELECT COUNT(*) FROM draws").fetchone()[0]


def test_perturb_engine_ray_writes_the_local_file(snli_dev, tmp_path):
    """Byte for byte the local engine's file (input order kept), drawn by 2 actors into a fresh
    cache; a second ray job on that cache draws nothing new."""
    _perturb(snli_dev, tmp_path / "local.jsonl", tmp_path / "local-cache")
    _perturb(snli_dev, tmp_path / "ray.jsonl", tmp_path / "cache", "--engine", "ray", "--num-workers", "2")
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    config = {n: json.loads((tmp_path / f"{n}.meta.json").read_text()) for n in ("local", "ray")}
    assert {**config["ray"], "cache": None} == {**config["local"], "cache": None}
    assert _cached_draws(tmp_path / "cache") == 40, "the actors wrote into the shared cache file"
    _perturb(snli_dev, tmp_path / "again.jsonl", tmp_path / "cache", "--engine", "ray")
    assert (tmp_path / "again.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert _cached_draws(tmp_path / "cache") == 40


def test_perturb_engine_ray_resumes_an_interrupted_file(snli_dev, tmp_path):
    _perturb(snli_dev, tmp_path / "full.jsonl", tmp_path / "full-cache")
    lines = (tmp_path / "full.jsonl").read_text().splitlines(keepends=True)
    out = tmp_path / "out.jsonl"
    out.write_text("".join(lines[:10]) + lines[10][:40])  # 10 lines and a cut one
    (tmp_path / "out.meta.json").write_text((tmp_path / "full.meta.json").read_text())
    _perturb(snli_dev, out, tmp_path / "cache", "--engine", "ray", "--num-workers", "2")
    assert out.read_bytes() == (tmp_path / "full.jsonl").read_bytes(), "no id twice, none lost"
    assert _cached_draws(tmp_path / "cache") == 30, "only the missing inputs were drawn"


TINY = """
name = "tiny"
seeds = [0, 1]
k = 2
k_sweep = [2]
k_reference = 4
mc_passes = 2
coverage = 0.8
perturber = "token"
methods = ["standard"]

[train]
epochs = 1.0
batch_size = 8
lr = 1e-4
max_length = 32
log_every = 1

[tasks.nli]
train = 16
eval = 8

[table3]
task = "nli"
train = 16
seeds = [0]
presets = ["standard"]

[appendix_b]
task_b2 = "nli"
b2_presets = ["standard"]
lam_grid = [0.0, 1.0]
coverages = [0.8]
"""


def test_reproduce_engine_ray_builds_the_local_tables(data_dir, tmp_path):
    """Table 2 and Table 3 of a tiny profile: 2 units (Table 3's unit is Table 2's seed 0, merged)
    trained and scored by 2 Ray tasks at once write the local run's score files byte for byte,
    and the tables built from them are the local ones; the table step then computes nothing.
    Each task has 1 CPU, so torch runs on 1 thread there, and so it does for the local run (with
    2 threads, CPU kernels sum in another order: probabilities differ by ~1e-8)."""
    import torch

    profile = tmp_path / "tiny.toml"
    profile.write_text(TINY)
    config = ReproduceConfig(profile=str(profile), data_dir=data_dir)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reproduce(["table2", "table3"], tmp_path / "local", config, progress=False, log=lambda _: None)
    finally:
        torch.set_num_threads(threads)
    logged: list[str] = []
    reproduce(["table2", "table3"], tmp_path / "ray", config, progress=False, log=logged.append,
              engine=RayUnitEngine(num_workers=2))
    done = [i for i, line in enumerate(logged) if line.startswith("unit nli:standard:")]
    assert len(done) == 2 and logged[0].startswith("2 units on Ray, 2 at a time")
    assert any(line.startswith("train nli standard seed=1") for line in logged[:done[-1]])
    assert not [line for line in logged[done[-1]:] if line.startswith(("train", "score"))]
    for seed in (0, 1):
        scores = Path("units/nli/standard-n16") / f"seed{seed}" / "scores"
        for name in ("validation-k2-s0.jsonl", "test-k2-s0.jsonl"):
            ray_file, local_file = (tmp_path / run / scores / name for run in ("ray", "local"))
            assert ray_file.read_bytes() == local_file.read_bytes()
    local, distributed = (json.loads((tmp_path / run / "results.json").read_text())
                          for run in ("local", "ray"))
    assert distributed["tables"] == local["tables"] and distributed["figures"] == local["figures"]
