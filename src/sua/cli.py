"""The `sua` command: argument parsing only; each command is one call into the API."""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import sua
from sua import defaults
from sua.errors import SUAInputError, SUAServiceError

#: --num-workers of the commands that run experiment units.
UNITS_AT_ONCE = "experiment units run at once, a Ray task each (default: one per GPU, else one per 4 CPUs)"


def _quiet_transformers() -> None:
    """Our own progress bars and error lines only: silence transformers' loading bars."""
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


def _score(args: argparse.Namespace) -> None:
    from sua.eval.tasks import resolve_task
    from sua.models import ModelOptions
    from sua.models.generation import SamplingConfig
    from sua.scoring.config import ScoringConfig
    from sua.scoring.run import LMOptions, ModelSpec, ScoreRequest, score_request

    _quiet_transformers()
    options = ModelOptions(device=args.device, precision=args.precision, batch_size=args.batch_size,
                           max_length=args.max_length, revision=args.revision)
    model = ModelSpec(source=args.model, backend=args.backend, options=options,
                      allow_untrained_head=args.allow_untrained_head)
    lm = LMOptions(template=args.template, normalize=args.normalize, dtype=args.dtype, base_url=args.base_url,
                   api_key=args.api_key, http_cache=args.http_cache, max_concurrency=args.max_concurrency,
                   scoring=args.scoring, m=args.m,
                   sampling=SamplingConfig(temperature=args.temperature, top_p=args.top_p,
                                           max_new_tokens=args.max_new_tokens))
    request = ScoreRequest(
        args.out, data=args.data, predictions=args.from_predictions,
        labels=args.labels.split(",") if args.labels else None, logits=args.logits,
        task=resolve_task(args.task), model=model, lm=lm, perturber=args.perturber,
        config=ScoringConfig(k=args.k, divergence=args.divergence, lam=args.lam, seed=args.seed),
        text_field=args.text_field, pair_field=args.pair_field, label_field=args.label_field,
        id_field=args.id_field, limit=args.limit, chunk_size=args.chunk_size, overwrite=args.overwrite,
        allow_empty=args.allow_empty, progress=not args.quiet, engine=_scoring_engine(args))
    _report_written(score_request(request), args.format)


def _report_written(out: Path, fmt: str) -> None:
    """Print where the records went, after writing the flat tables when ``--format`` asks."""
    print(f"records written to {out}")
    if fmt != "jsonl":
        from sua.tables import write_score_tables

        print(*(f"table written to {p}" for p in write_score_tables(out, fmt)), sep="\n")


def _add_engine_options(parser: argparse.ArgumentParser, workers: str) -> None:
    """--engine, --address and --num-workers (``workers``: what they are, with their default)."""
    group = parser.add_argument_group("where it runs")
    group.add_argument("--engine", choices=["local", "ray"], default="local",
                       help="local: this process (default); ray: a Ray cluster (pip install 'sua[ray]')")
    group.add_argument("--address", help="ray: an existing cluster, e.g. auto or ray://head:10001 "
                                         "(default: start a local instance)")
    group.add_argument("--num-workers", type=int, help=f"ray: {workers}")


def _scoring_engine(args: argparse.Namespace) -> Any:
    """None for the local engine, else the Ray engine's factory (the library gives it the model
    loader and the batch size)."""
    if args.engine == "local":
        return None
    from sua.distributed import RayScoringEngine

    return functools.partial(RayScoringEngine, num_workers=args.num_workers, address=args.address)


# -- sua score with a language model (--backend hf-causal|openai) ------------------------

def _add_lm_score_options(score: argparse.ArgumentParser) -> None:
    lm = score.add_argument_group("language-model backends (--backend hf-causal or openai)")
    lm.add_argument("--backend", choices=["hf", "hf-causal", "openai"], default="hf",
                    help="hf: a fine-tuned encoder classifier (default); hf-causal: a transformers causal "
                         "LM; openai: an OpenAI-compatible server")
    lm.add_argument("--template", help="prompt template name or JSON file (default per task: nli, "
                                       "qa-generative; classification needs one, e.g. sentiment, ag_news)")
    lm.add_argument("--normalize", nargs="?", const="tokens", default="none",
                    choices=["none", "tokens", "chars"],
                    help="length-normalise label log-likelihoods (bare flag: per token)")
    lm.add_argument("--dtype", help="hf-causal: cast the model, e.g. bfloat16")
    lm.add_argument("--base-url", help="openai: the server, e.g. http://127.0.0.1:8000/v1")
    lm.add_argument("--api-key", help="openai: API key (default $OPENAI_API_KEY)")
    lm.add_argument("--http-cache", help="openai: request cache folder (reruns cost nothing)")
    lm.add_argument("--max-concurrency", type=int, default=4, help="openai: requests in flight")
    lm.add_argument("--scoring", choices=["echo", "first_token"], default="echo",
                    help="openai: label log-likelihoods from echoed prompts (exact) or the first token")
    lm.add_argument("--m", type=int, default=defaults.M, help="qa-generative: sampled answers per input")
    lm.add_argument("--temperature", type=float, default=1.0, help="qa-generative: sampling temperature")
    lm.add_argument("--top-p", type=float, default=1.0, help="qa-generative: nucleus sampling mass")
    lm.add_argument("--max-new-tokens", type=int, default=32, help="qa-generative: tokens per answer")


def _summarize(args: argparse.Namespace) -> None:
    from sua.eval.summary import format_summary, summarize_file

    summary = summarize_file(args.scores)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))


def _explore(args: argparse.Namespace) -> None:
    from sua.eval.explorer import write_explorer

    page = write_explorer(args.scores, args.out, decisions=args.decisions, data=args.data)
    print(f"explorer written to {page}")


def _demo(args: argparse.Namespace) -> None:
    # torch's OpenMP threads spin-wait by default: on a shared 2-core machine that made the demo's
    # training steps about 3x slower (29 vs 7.6 s/step in two runs under load). Set before torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from sua.eval.demo import DemoConfig, format_demo, run_demo

    _quiet_transformers()
    config = DemoConfig(data_dir=args.data_dir, train_data=args.train_data, test_data=args.test_data,
                        backbone=args.model, train_size=args.train_size, eval_size=args.eval_size,
                        epochs=args.epochs, lr=args.lr, max_length=args.max_length,
                        train_precision=args.train_precision, k=args.k, lam=args.lam, seed=args.seed)
    summary = run_demo(config, out_dir=args.out, precision=args.precision, device=args.device,
                       progress=not args.quiet)
    print(format_demo(summary))


def _lam_arg(value: str) -> float | str:
    """argparse type for --lam: a number, or 'select' (choose λ on the records)."""
    if value == "select":
        return value
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'select', got {value!r}") from None


def _abstain_fit(args: argparse.Namespace) -> None:
    from sua.selective import fit_policy_file

    policy = fit_policy_file(args.scores, args.out, target_coverage=args.target_coverage,
                             target_risk=args.target_risk, delta=args.delta, score=args.score,
                             lam=args.lam)
    print(json.dumps(policy.to_dict(), indent=2))
    print(f"policy written to {args.out}")


def _abstain_apply(args: argparse.Namespace) -> None:
    from sua.selective import apply_policy_file

    print(json.dumps(apply_policy_file(args.policy, args.scores, args.out), indent=2))


def _bounds(args: argparse.Namespace) -> None:
    from sua.selective import check_bounds, format_bounds

    report = check_bounds(args.scores, lam=args.lam, reference=args.reference)
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_bounds(report))


def _train(args: argparse.Namespace) -> None:
    from sua.eval.tasks import resolve_task
    from sua.train import Runtime, TrainData, train_model

    _quiet_transformers()
    options = {k: v for k, v in (
        ("epochs", args.epochs), ("batch_size", args.batch_size), ("lr", args.lr), ("alpha", args.alpha),
        ("beta", args.beta), ("lam", args.lam), ("k_train", args.k_train), ("perturber", args.perturber),
        ("save_every", args.save_every), ("eval_every", args.eval_every), ("seed", args.seed),
        ("max_length", args.max_length), ("adv_epsilon", args.adv_epsilon), ("adv_steps", args.adv_steps),
        ("adv_norm", args.adv_norm),
        ("adv_clean_loss", None if args.adv_loss is None else args.adv_loss == "mean"),
        ("precision", args.precision))
        if v is not None}
    data = TrainData(args.data, limit=args.limit, eval_path=args.eval_data)
    runtime = Runtime(device=args.device, progress=not args.quiet, nproc=args.nproc)
    model_dir = train_model(resolve_task(args.task), args.method, data, args.out, backbone=args.model,
                            runtime=runtime, **options)
    print(f"model written to {model_dir}")


def _perturb(args: argparse.Namespace) -> None:
    from sua.eval.tasks import resolve_task
    from sua.perturb import PerturbConfig, perturb_file

    _quiet_transformers()
    config = PerturbConfig(
        family=args.family, k=args.k, seed=args.seed, options=_family_options(args), protect=args.protect,
        task=resolve_task(args.task), field=args.field, context_field=args.context_field,
        id_field=args.id_field, limit=args.limit, allow_empty=args.allow_empty, cache=not args.no_cache,
        cache_dir=args.cache_dir)
    out = perturb_file(args.data, args.out, config, model=args.model, progress=not args.quiet,
                       engine=_perturb_engine(args))
    print(f"perturbations written to {out}")


def _family_options(args: argparse.Namespace) -> dict[str, Any]:
    """The perturbation family's options given on the command line (--weights, --kinds, ...)."""
    given = (("max_edits", args.max_edits), ("budget", args.budget), ("max_swaps", args.max_swaps))
    options: dict[str, Any] = {name: value for name, value in given if value is not None}
    if args.weights:
        try:
            options["weights"] = {f: float(w) for f, w in (kv.split("=") for kv in args.weights.split(","))}
        except ValueError:
            raise SUAInputError(f"--weights must look like paraphrase=0.4,token=0.4,adversarial=0.2, "
                                f"got {args.weights!r}") from None
    if args.kinds:
        options["kinds"] = tuple(args.kinds.split(","))
    return options


def _perturb_engine(args: argparse.Namespace) -> Any:
    """None for the local engine, else the Ray engine with ``--num-workers`` rewrite actors."""
    if args.engine == "local":
        return None
    from sua.distributed import RayPerturbEngine

    return RayPerturbEngine(num_workers=args.num_workers, address=args.address)


def _report(args: argparse.Namespace) -> None:
    from sua.eval.report.write import write_report

    print(*write_report(args.run_dir), sep="\n")


def _reproduce(args: argparse.Namespace) -> None:
    from sua.eval.reproduce import ReproduceConfig, reproduce

    _quiet_transformers()
    run_dir = args.out or f"runs/reproduce-{Path(args.profile).stem}"
    config = ReproduceConfig(profile=args.profile, seeds=args.seeds, tasks=args.task, data_dir=args.data_dir)
    out = reproduce(args.experiments, run_dir, config, precision=args.precision, device=args.device,
                    progress=not args.quiet, engine=_unit_engine(args))
    print(f"results: {out}\nreport: {out.parent / 'report' / 'report.md'} (and report.html)")




def _usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the platform says, else all)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _evidence(args: argparse.Namespace) -> None:
    from sua.eval import evidence

    if args.evidence_command == "unit":
        _quiet_transformers()
        units = list(dict.fromkeys(_unit(unit) for unit in args.units))  # one task per unit folder
        if args.train_only and args.split:
            raise SUAInputError("--train-only scores no split, so --split has nothing to choose: drop one")
        splits = [] if args.train_only else args.split
        evidence.run_units(args.run, args.profile, units, data_dir=args.data_dir, splits=splits,
                           progress=not args.quiet, engine=_unit_engine(args))
    elif args.evidence_command == "export":
        print(f"{len(evidence.export_run(args.run, args.out))} files written under {args.out}")
    else:
        workers = _usable_cpus() if args.workers is None else args.workers
        print(*evidence.derive(args.folder, workers=workers).values(), sep="\n")


def _unit_engine(args: argparse.Namespace) -> Any:
    """None for the local engine, else the Ray engine running ``--num-workers`` units at once."""
    if args.engine == "local":
        return None
    from sua.distributed import RayUnitEngine

    return RayUnitEngine(num_workers=args.num_workers, address=args.address)


def _unit(text: str) -> tuple[str, str, int]:
    parts = text.split(":")
    if len(parts) != 3 or not parts[2].isdigit():
        raise SUAInputError(f"a unit is TASK:PRESET:SEED (e.g. nli:standard:0), got {text!r}")
    return parts[0], parts[1], int(parts[2])


class _UsageError(Exception):
    """A command line argparse refused; its message is the whole ``error:`` line."""


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors as one ``sua CMD: error: ...`` line and exit code 2, like every
    other user error (``main`` prints it)."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{self.prog}: error: {message} (see {self.prog} --help)")


def _show_defaults(parser: argparse.ArgumentParser) -> None:
    """Append ``(default: …)`` to every option's help that has a default and does not state it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _show_defaults(sub)
        elif (action.option_strings and not any(action.default is v for v in (None, False, argparse.SUPPRESS))
              and "default" not in (action.help or "")):
            action.help = f"{action.help} (default: %(default)s)" if action.help else "default: %(default)s"


def _add_runtime_options(parser: argparse.ArgumentParser, *, train: bool = False) -> None:
    """--precision and --device (the values of sua.models.precision.PRECISIONS and DEVICES, written
    out here so that parsing imports no torch); training takes fp32 or bf16."""
    if train:
        parser.add_argument("--precision", choices=["fp32", "bf16"],
                            help="training arithmetic: fp32 (default) or bf16 autocast")
    else:
        parser.add_argument("--precision", choices=["fp32", "bf16", "int8"], default="fp32",
                            help="inference: fp32 (default, exact), bf16 (autocast) or int8 "
                                 "(dynamic quantisation of the linear layers, CPU)")
    parser.add_argument("--device", choices=["cpu", "cuda", "auto"], default="auto",
                        help="auto (default): CUDA when a GPU is visible, else the CPU")


def _add_task_option(parser: argparse.ArgumentParser, *, default: str | None, several: bool = False) -> None:
    """--task, the same names and help in every command (:func:`sua.eval.tasks.resolve_task`
    reads the value); ``several``: the option may be given more than once."""
    from sua.eval.tasks import TASK_HELP, task_choices

    help_text = TASK_HELP.format(names=", ".join(task_choices()))
    if several:
        parser.add_argument("--task", action="append", default=default, metavar="TASK",
                            help=f"{help_text}; repeat for several")
    else:
        parser.add_argument("--task", default=default, metavar="TASK", help=help_text)


def build_parser() -> argparse.ArgumentParser:
    from sua.eval.demo import DemoConfig
    from sua.measures import available_divergences
    from sua.perturb import PERTURBERS
    from sua.selective.policy import DEFAULT_SCORE, SCORES

    parser = _Parser(
        prog="sua", description="Sensitivity-Uncertainty Alignment: S(x), H(x), SUA(x) per input.")
    parser.add_argument("--version", action="version", version=f"sua {sua.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    score = sub.add_parser("score", help="score a JSONL file with SUA")
    score.add_argument("--model", help="HF model folder or hub name (--backend hf-causal: default the "
                                       "offline SmolLM2; openai: the server's model name)")
    _add_task_option(score, default="classification")
    score.add_argument("--data", help="input JSONL, CSV or Parquet file (by extension), or a hub "
                                      "dataset hf:NAME[@CONFIG]:SPLIT")
    score.add_argument("--from-predictions", metavar="FILE",
                       help="score distributions you already have instead of calling a model: per "
                            "input {id, label?, probs, perturbations: [{text, probs}, ...]} (JSONL, CSV "
                            "or Parquet; a sua score output is one)")
    score.add_argument("--labels", help="--from-predictions: the label of each probability column, "
                                        "a,b,c (default: from the file's .meta.json)")
    score.add_argument("--logits", action="store_true",
                       help="--from-predictions: the values are logits (softmax is applied)")
    score.add_argument("--out", required=True, help="output JSONL file of score records")
    score.add_argument("--format", choices=["jsonl", "csv", "parquet"], default="jsonl",
                       help="csv or parquet: also write the records as flat tables, <out stem>.FORMAT "
                            "(one row per input) and <out stem>.rewrites.FORMAT (one per rewrite)")
    score.add_argument("--text-field", help="field of the (first) text; default per task")
    score.add_argument("--pair-field", help="field of the second text; '' for none")
    score.add_argument("--label-field", help="gold label field (qa tasks: the gold answers); '' to score "
                                             "without them")
    score.add_argument("--id-field", default="id")
    score.add_argument("--perturber", default="token", choices=sorted(PERTURBERS), help="perturbation family")
    score.add_argument("--k", type=int, default=defaults.K, help="perturbations per input")
    score.add_argument("--divergence", default=defaults.DIVERGENCE, choices=available_divergences(),
                       help="D in S(x) = E D(p(.|x) || p(.|x'))")
    score.add_argument("--revision", help="hub model branch, tag or commit (--backend hf)")
    score.add_argument("--allow-untrained-head", action="store_true",
                       help="score a model whose classification head is newly initialised (refused "
                            "otherwise: its predictions are noise)")
    score.add_argument("--lam", type=float, default=defaults.LAM, help="alignment coefficient λ")
    score.add_argument("--seed", type=int, default=0)
    score.add_argument("--limit", type=int, help="score only the first N inputs")
    score.add_argument("--batch-size", type=int, help="default 64; hf-causal: 4 prompt groups")
    score.add_argument("--max-length", type=int, help="tokens per input (default 256; hf-causal: 2048)")
    score.add_argument("--chunk-size", type=int, default=512, help="inputs per model call")
    score.add_argument("--overwrite", action="store_true", help="discard an existing --out")
    score.add_argument("--allow-empty", action="store_true", help="an input with no records is not an error")
    score.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_lm_score_options(score)
    _add_runtime_options(score)
    _add_engine_options(score, "model actors (default: one per CPU, or per GPU)")
    score.set_defaults(func=_score)

    summarize = sub.add_parser("summarize", help="summarise a file of score records")
    summarize.add_argument("scores")
    summarize.add_argument("--json", action="store_true", help="print JSON instead of a table")
    summarize.set_defaults(func=_summarize)

    explore = sub.add_parser("explore", help="write one self-contained HTML page to browse a score file")
    explore.add_argument("scores", help="sua score output (JSONL)")
    explore.add_argument("--decisions", help="sua abstain apply output, joined by id")
    explore.add_argument("--data", help="the scored data file (default: the one in the scores' .meta.json)")
    explore.add_argument("--out", help="HTML file to write (default: <scores stem>.explorer.html)")
    explore.set_defaults(func=_explore)

    demo_config = DemoConfig()  # the demo's defaults
    demo = sub.add_parser("demo", help="fine-tune a small NLI model offline and score it with SUA")
    demo.add_argument("--data-dir", help="folder with nli/snli/{dev,test}.jsonl")
    demo.add_argument("--train-data", help="training JSONL or hub source hf:NAME[@CONFIG]:SPLIT")
    demo.add_argument("--test-data", help="evaluation JSONL or hub source hf:NAME[@CONFIG]:SPLIT")
    demo.add_argument("--model", help="backbone (default: the offline MiniLM)")
    demo.add_argument("--out", default="runs/demo")
    demo.add_argument("--train-size", type=int, default=demo_config.train_size,
                      help="training pairs (default: all)")
    demo.add_argument("--eval-size", type=int, default=demo_config.eval_size, help="SNLI test pairs scored")
    demo.add_argument("--epochs", type=float, default=demo_config.epochs)
    demo.add_argument("--train-precision", choices=["fp32", "bf16"], default=demo_config.train_precision,
                      help="training arithmetic (bf16 autocast: faster, within seed noise of fp32)")
    demo.add_argument("--lr", type=float, default=demo_config.lr, help="fine-tuning learning rate")
    demo.add_argument("--max-length", type=int, default=demo_config.max_length,
                      help="tokens per training pair")
    demo.add_argument("--k", type=int, default=demo_config.k)
    demo.add_argument("--lam", type=float, default=demo_config.lam)
    demo.add_argument("--seed", type=int, default=demo_config.seed)
    demo.add_argument("--quiet", action="store_true")
    _add_runtime_options(demo)
    demo.set_defaults(func=_demo)

    perturb = sub.add_parser("perturb", help="write K meaning-preserving perturbations per input (JSONL)")
    perturb.add_argument("--data", required=True, help="input JSONL file")
    _add_task_option(perturb, default="classification")
    perturb.add_argument("--field", help="field to perturb (default: the task's rewritten side)")
    perturb.add_argument("--id-field", default="id")
    perturb.add_argument("--context-field",
                         help="first segment the model sees with the text (NLI premise), for the "
                              "adversarial family (default: the task's first text when it rewrites the "
                              "pair; '' for none)")
    perturb.add_argument("--k", type=int, default=defaults.K)
    perturb.add_argument("--out", required=True)
    perturb.add_argument("--family", default="mixture", choices=sorted(PERTURBERS),
                         help="perturbation family")
    perturb.add_argument("--seed", type=int, default=0)
    perturb.add_argument("--model", help="model folder: the adversarial goal (adds it to the mixture)")
    perturb.add_argument("--protect", help="comma-separated: numbers,negations")
    perturb.add_argument("--weights", help="mixture: paraphrase=0.4,token=0.4,adversarial=0.2")
    perturb.add_argument("--kinds", help="token: typo,synonym,casing,punctuation,whitespace")
    perturb.add_argument("--max-edits", type=int, help="token: edits per draw")
    perturb.add_argument("--budget", type=int, help="adversarial: model inputs per text")
    perturb.add_argument("--max-swaps", type=int, help="adversarial: swaps kept per text")
    perturb.add_argument("--limit", type=int)
    perturb.add_argument("--cache-dir")
    perturb.add_argument("--no-cache", action="store_true")
    perturb.add_argument("--allow-empty", action="store_true",
                         help="an input with no records is not an error")
    perturb.add_argument("--quiet", action="store_true")
    _add_engine_options(perturb, "rewrite actors (default: one per CPU)")
    perturb.set_defaults(func=_perturb)

    train = sub.add_parser("train", help="fine-tune a classifier: standard, PGD adversarial training, SUA-TR")
    _add_task_option(train, default="nli")
    train.add_argument("--method", default="sua-tr",
                       help="standard, at, sua-tr, or a Table 3 preset (sua-tr-no-cons, sua-tr-no-align, "
                            "sua-tr-adv-only, sua-tr-para-only, sua-tr-k4/k8/k16)")
    train.add_argument("--data", required=True, help="training JSONL")
    train.add_argument("--out", required=True,
                       help="run folder: model/, config.json, train_log.jsonl, checkpoints/")
    train.add_argument("--model", help="backbone (default: the offline MiniLM)")
    train.add_argument("--limit", type=int, help="train on the first N records")
    train.add_argument("--eval-data", help="held-out JSONL whose S/H/accuracy go into the log")
    train.add_argument("--epochs", type=float)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--max-length", type=int, help="tokens per input (default: the training inputs' "
                                                      "99th percentile; qa: question + context window, 128)")
    train.add_argument("--lr", type=float)
    train.add_argument("--alpha", type=float, help="consistency weight α (sua-tr)")
    train.add_argument("--beta", type=float, help="alignment weight β (sua-tr)")
    train.add_argument("--lam", type=float, help="λ in L_align")
    train.add_argument("--k-train", type=int, help="rewrites per example and epoch (sua-tr)")
    train.add_argument("--perturber", choices=sorted(PERTURBERS),
                       help="perturbation family for sua-tr (default: token)")
    train.add_argument("--adv-epsilon", type=float, help="at: radius of the PGD ball on the word embeddings")
    train.add_argument("--adv-steps", type=int, help="at: PGD steps per batch")
    train.add_argument("--adv-norm", choices=["linf", "l2"], help="at: the ball's norm (default linf)")
    train.add_argument("--adv-loss", choices=["mean", "adversarial"],
                       help="at: ½(L(x) + L(x+δ)) (mean, the default) or L(x+δ) alone")
    train.add_argument("--save-every", type=int, help="checkpoint every N steps; rerun the command to resume")
    train.add_argument("--eval-every", type=int)
    train.add_argument("--seed", type=int)
    train.add_argument("--nproc", type=int, default=1,
                       help="data-parallel processes (torch.distributed: gloo on CPU, nccl with a GPU "
                            "each); the same global batch and steps as one process")
    train.add_argument("--quiet", action="store_true")
    _add_runtime_options(train, train=True)
    train.set_defaults(func=_train)

    abstain = sub.add_parser("abstain", help="fit or apply an abstention policy on score records")
    abstain_sub = abstain.add_subparsers(dest="abstain_command", required=True)
    fit = abstain_sub.add_parser("fit", help="choose τ on validation scores for a target "
                                             "coverage or a certified target risk")
    fit.add_argument("--scores", required=True, help="validation scores (sua score output)")
    target = fit.add_mutually_exclusive_group(required=True)
    target.add_argument("--target-coverage", type=float, help="answer at least this share")
    target.add_argument("--target-risk", type=float,
                        help="certify selective risk <= this with probability 1 - delta")
    fit.add_argument("--delta", type=float, default=0.05, help="risk certificate level")
    fit.add_argument("--score", choices=SCORES, default=DEFAULT_SCORE,
                     help="what to threshold: entropy (the best failure ranker measured in docs/results), "
                          "sua (S - λH; warns when it ranks failures backwards on these scores) or "
                          "combined (SUA > τ₁ or H > τ₂)")
    fit.add_argument("--lam", type=_lam_arg,
                     help="λ, or 'select' to choose it on these scores (default: the run's λ)")
    fit.add_argument("--out", required=True, help="policy JSON to write")
    fit.set_defaults(func=_abstain_fit)
    apply = abstain_sub.add_parser("apply", help="answer or abstain on scored inputs, with reasons")
    apply.add_argument("--policy", required=True, help="policy JSON from `sua abstain fit`")
    apply.add_argument("--scores", required=True, help="scores to decide on (sua score output)")
    apply.add_argument("--out", required=True, help="decisions JSONL to write (replaced)")
    apply.set_defaults(func=_abstain_apply)

    bounds = sub.add_parser("bounds", help="check the paper's Section 4 bounds on a scored run")
    bounds.add_argument("scores", help="scores JSONL or its run folder")
    bounds.add_argument("--reference", help="items with crowd_label_dist for Lemma 4.6, "
                                            "e.g. nli/ambient/test.jsonl")
    bounds.add_argument("--lam", type=float, help="λ (default: the run's)")
    bounds.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    bounds.set_defaults(func=_bounds)

    report = sub.add_parser("report", help="write report/report.md and a self-contained report.html "
                                           "from an experiment run's results.json")
    report.add_argument("run_dir", help="run folder holding results.json")
    report.set_defaults(func=_report)

    reproduce = sub.add_parser("reproduce", help="run the paper's experiments on real data (resumable) "
                                                 "and write results.json plus the report")
    reproduce.add_argument("experiments", nargs="+", metavar="EXPERIMENT",
                           choices=["table2", "table3", "appendix-b", "figure2", "all"],
                           help="table2, table3, appendix-b, figure2 or all")
    reproduce.add_argument("--profile", default="quick",
                           help="quick (minutes), full (hours) or a profile TOML file (default: quick)")
    _add_task_option(reproduce, default=None, several=True)
    reproduce.add_argument("--seeds", type=int, help="number of seeds (default: the profile's)")
    reproduce.add_argument("--out", default=None, help="run folder (default: runs/reproduce-<profile>)")
    reproduce.add_argument("--data-dir", help="data folder (default: $SUA_DATA_DIR or ../shared/data)")
    reproduce.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_runtime_options(reproduce)
    _add_engine_options(reproduce, UNITS_AT_ONCE)
    reproduce.set_defaults(func=_reproduce)

    evidence = sub.add_parser("evidence", help="the evidence run: train and score units, pack them, "
                                               "derive claims with bootstrap intervals")
    evidence_sub = evidence.add_subparsers(dest="evidence_command", required=True)
    unit = evidence_sub.add_parser("unit", help="train (resumably) and score units on every split")
    unit.add_argument("units", nargs="+", metavar="TASK:PRESET:SEED", help="e.g. nli:standard:0")
    unit.add_argument("--run", required=True, help="run folder (cached models and score files)")
    unit.add_argument("--profile", default="evidence", help="profile name or TOML file (default: evidence)")
    unit.add_argument("--data-dir", help="data folder (default: $SUA_DATA_DIR or ../shared/data)")
    unit.add_argument("--split", action="append", metavar="NAME",
                      help="score only this split (repeatable; default: every split but train), e.g. "
                           "--split validation for a grid point, which a tuned row is selected on, or "
                           "--split validation --split test for a Table 3 ablation")
    unit.add_argument("--train-only", action="store_true",
                      help="train (or resume) the models and score nothing, e.g. on a GPU machine whose "
                           "run folder is then copied back and scored here")
    unit.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_engine_options(unit, UNITS_AT_ONCE)
    export = evidence_sub.add_parser("export", help="pack a run's score files and learning curves")
    export.add_argument("run", help="run folder")
    export.add_argument("--out", required=True, help="results folder, e.g. docs/results/evidence")
    derive = evidence_sub.add_parser("derive", help="claims.json, summary.json and evidence.md from "
                                                    "a results folder (no model needed)")
    derive.add_argument("folder", help="results folder written by export")
    derive.add_argument("--workers", type=int,
                        help="processes evaluating the claims (default: the CPUs this process may use)")
    evidence.set_defaults(func=_evidence)
    _show_defaults(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `sua` console command. Bad input: one line on stderr, exit 2."""
    from sua.validate import check_args

    try:
        args = build_parser().parse_args(argv)
    except _UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        check_args(args)
        args.func(args)
    except (SUAInputError, SUAServiceError) as exc:
        one_line = " ".join(str(exc).split())  # a library's multi-line reason stays one line
        print(f"sua {args.command}: error: {one_line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sua {args.command}: interrupted; finished records are kept, rerun to resume",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
