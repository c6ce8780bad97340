"""``sua reproduce`` end to end on a micro profile (real MiniLM, real data, a few dozen inputs):
every experiment writes its table, the report renders, a rerun resumes without retraining."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from sua.cli import main
from sua.errors import SUAInputError
from sua.eval.reproduce import EXPERIMENTS, ReproduceConfig, plan_units, reproduce
from sua.eval.runner import ExperimentRun

MICRO = """
name = "micro"
seeds = [0]
k = 2
k_sweep = [2]
k_reference = 4
mc_passes = 2
coverage = 0.8
perturber = "token"
methods = ["standard", "at", "sua-tr"]

[train]
epochs = 1.0
batch_size = 16
lr = 1e-4
max_length = 64
adv_steps = 1
log_every = 1

[tasks.nli]
train = 32
eval = 10

[table3]
task = "nli"
train = 32
seeds = [0]
presets = ["sua-tr", "standard"]

[appendix_b]
task_b2 = "nli"
b2_presets = ["sua-tr"]
lam_grid = [0.0, 1.0]
coverages = [0.9, 0.8]
"""


@pytest.fixture(scope="module")
def micro_run(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("reproduce")
    profile = folder / "micro.toml"
    profile.write_text(MICRO, encoding="utf-8")
    run_dir = folder / "run"
    reproduce(["all"], run_dir, ReproduceConfig(profile=str(profile), data_dir=data_dir), progress=False,
              log=lambda _: None)
    return profile, run_dir


def test_every_experiment_writes_its_table_and_the_report(micro_run: tuple[Path, Path]) -> None:
    _, run_dir = micro_run
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    ids = {t["id"] for t in results["tables"]}
    assert ids == {"table2", "failure_scores", "table3", "b1", "b2", "b3", "b4", "figure2"}
    table2 = next(t for t in results["tables"] if t["id"] == "table2")
    methods = {r["keys"]["Method"] for r in table2["rows"]}
    assert methods == {"Standard", "AT", "SUA-TR", "Temp. Scale", "Self-Consist."}
    standard = next(r for r in table2["rows"] if r["keys"]["Method"] == "Standard")
    assert standard["paper"]["Acc"] == 0.811  # the paper's NLI Standard row sits beside ours
    assert 0.0 <= standard["cells"]["Acc"]["mean"] <= 1.0
    figure2 = next(t for t in results["tables"] if t["id"] == "figure2")
    subsets = {r["keys"]["Subset"].rsplit(" (n=", 1)[0] for r in figure2["rows"]}
    assert all(re.search(r" \(n=\d+\)$", r["keys"]["Subset"]) for r in figure2["rows"])
    assert {"in-domain: test", "shift: mnli", "ambiguous: ambient", "adversarial: epistemic",
            "adversarial: test_adversarial"} <= subsets
    assert results["figures"]["reliability"]
    assert {(e["task"], e["score"]) for e in results["figures"]["k_sweep"]} == {("nli", "SUA"), ("nli", "S")}
    report = (run_dir / "report" / "report.md").read_text(encoding="utf-8")
    assert "Table 2" in report and (run_dir / "report" / "report.html").exists()
    # per-instance records of every unit, with the split and role
    records = run_dir / "units/nli/standard-n32/seed0/scores/ambient-k2-s0.jsonl"
    first = json.loads(records.read_text(encoding="utf-8").splitlines()[0])
    assert first["split"] == "ambient" and first["role"] == "ambiguous" and "gold_labels" in first
    lines = records.read_text(encoding="utf-8").splitlines()
    n = sum(json.loads(line).get("correct") is not None for line in lines)  # the labelled inputs
    assert any(r["keys"]["Subset"] == f"ambiguous: ambient (n={n})" for r in figure2["rows"])


def test_rerun_resumes_from_cached_units(micro_run: tuple[Path, Path], data_dir: Path) -> None:
    profile, run_dir = micro_run
    weights = run_dir / "units/nli/sua-tr-n32/seed0/model/model.safetensors"
    stamp = weights.stat().st_mtime_ns
    before = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))["tables"]
    logged: list[str] = []
    reproduce(["table2"], run_dir, ReproduceConfig(profile=str(profile), data_dir=data_dir), progress=False,
              log=logged.append)
    assert weights.stat().st_mtime_ns == stamp
    assert not [line for line in logged if line.startswith(("train", "score"))]
    after = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))["tables"]
    assert after == before


def test_other_settings_on_the_same_folder_are_refused(micro_run: tuple[Path, Path], data_dir: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    profile, run_dir = micro_run
    with pytest.raises(SUAInputError, match="another profile"):
        reproduce(["table2"], run_dir, ReproduceConfig(profile=str(profile), seeds=2, data_dir=data_dir),
                  progress=False)
    assert main(["reproduce", "tablex", "--out", str(run_dir)]) == 2
    assert "invalid choice: 'tablex'" in capsys.readouterr().err
    assert main(["reproduce", "table2", "--profile", "nope", "--out", str(run_dir / "x")]) == 2
    assert "unknown profile" in capsys.readouterr().err


def test_plan_units_names_exactly_the_files_the_experiments_read(micro_run: tuple[Path, Path],
                                                                 data_dir: Path) -> None:
    """What `--engine ray` computes before the tables: every score and agreement file the local
    run wrote, one unit per model folder (Table 3's Standard and SUA-TR are Table 2's)."""
    _, run_dir = micro_run
    run = ExperimentRun(run_dir, json.loads((run_dir / "profile.json").read_text(encoding="utf-8")),
                        data_dir=data_dir, progress=False)
    units = plan_units(run, EXPERIMENTS)
    folders = [run.unit_dir(u.task, u.preset, u.seed, u.n_train) for u in units]
    assert len(set(folders)) == len(units) == 3  # standard, at, sua-tr: Table 3's and B.2's are the same
    planned = {folder / "scores" / f"{split}-k{k}-s{seed}.jsonl"
               for folder, u in zip(folders, units) for split, k, seed in u.scores}
    planned |= {folder / "votes" / f"{split}-m2.json"
                for folder, u in zip(folders, units) for split in u.agreement}
    written = {*run_dir.glob("units/*/*/seed0/scores/*.jsonl"), *run_dir.glob("units/*/*/seed0/votes/*.json")}
    assert planned == written


def test_reproduce_config_sets_the_seeds_and_precision_of_the_profile(micro_run: tuple[Path, Path]) -> None:
    profile, _ = micro_run
    config = ReproduceConfig(profile=str(profile), seeds=3).profile_config("bf16")
    assert config["seeds"] == [0, 1, 2] and config["precision"] == "bf16"
    assert ReproduceConfig(profile=str(profile)).profile_config("fp32")["seeds"] == \
        tomllib.loads(profile.read_text(encoding="utf-8"))["seeds"]  # the profile's own
    for seeds in (0, -2):
        with pytest.raises(SUAInputError, match=f"--seeds must be >= 1, got {seeds}"):
            ReproduceConfig(seeds=seeds)
    with pytest.raises(SUAInputError, match="precision"):
        ReproduceConfig(profile=str(profile)).profile_config("fp8")
