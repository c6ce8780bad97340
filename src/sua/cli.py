"""The `sua` command: argument parsing only; each command is one call into the API."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from sua.errors import SUAInputError

# Defaults shared by the commands that score (SPEC.md "Defaults").
DEFAULT_K, DEFAULT_DIVERGENCE, DEFAULT_LAM = 8, "jsd", 1.0


def _quiet_transformers() -> None:
    """Our own progress bars and error lines only: silence transformers' loading bars."""
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


def _score(args: argparse.Namespace) -> None:
    from sua.inputs import TASK_FIELDS
    from sua.models import load_model
    from sua.perturb import get_perturber
    from sua.scoring import SUAScorer

    _quiet_transformers()
    if args.backend != "hf":
        return _score_lm(args)
    _check_encoder_args(args)
    fields = TASK_FIELDS[args.task]
    pair_field = args.pair_field if args.pair_field is not None else fields.pair_field
    label_field = args.label_field if args.label_field is not None else fields.label_field
    model = load_model(args.model, batch_size=args.batch_size or 64, max_length=args.max_length or 256)
    scorer = SUAScorer(model, get_perturber(args.perturber), k=args.k, divergence=args.divergence,
                       lam=args.lam, seed=args.seed, chunk_size=args.chunk_size)
    out = scorer.score_file(
        args.data, args.out,
        text_field=args.text_field or fields.text_field,
        pair_field=pair_field or None,
        label_field=label_field or None,
        id_field=args.id_field, limit=args.limit, overwrite=args.overwrite,
        progress=not args.quiet, metadata={"model_source": args.model, "task": args.task})
    print(f"records written to {out}")


# -- sua score with a language model (--backend hf-causal|openai) ------------------------

#: --task values that only a language model scores.
LM_ONLY_TASKS = ("qa-generative",)


def _check_encoder_args(args: argparse.Namespace) -> None:
    """The encoder path (--backend hf) needs --model and takes none of the LM-only options."""
    if args.model is None:
        raise SUAInputError("--model is required with --backend hf (a classifier folder or hub name)")
    if args.task in LM_ONLY_TASKS or args.template is not None:
        raise SUAInputError(f"--task {args.task} and --template need --backend hf-causal or openai")


def _score_lm(args: argparse.Namespace) -> None:
    from sua.models.generation import SamplingConfig
    from sua.scoring.generative import score_lm_file

    sampling = SamplingConfig(temperature=args.temperature, top_p=args.top_p,
                              max_new_tokens=args.max_new_tokens)
    out = score_lm_file(
        args.data, args.out, backend=args.backend, model=args.model, task=args.task, template=args.template,
        perturber=args.perturber, k=args.k, m=args.m, divergence=args.divergence, lam=args.lam,
        seed=args.seed, normalize=args.normalize, sampling=sampling, base_url=args.base_url,
        api_key=args.api_key, http_cache=args.http_cache, max_concurrency=args.max_concurrency,
        scoring=args.scoring, dtype=args.dtype, batch_size=args.batch_size, max_length=args.max_length,
        chunk_size=args.chunk_size, text_field=args.text_field, pair_field=args.pair_field,
        label_field=args.label_field, id_field=args.id_field, limit=args.limit, overwrite=args.overwrite,
        progress=not args.quiet)
    print(f"records written to {out}")


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
    lm.add_argument("--m", type=int, default=10, help="qa-generative: sampled answers per input")
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
    from sua.eval.demo import format_demo, run_demo

    _quiet_transformers()
    summary = run_demo(data_dir=args.data_dir, train_data=args.train_data, test_data=args.test_data,
                       out_dir=args.out, backbone=args.model,
                       train_size=args.train_size, eval_size=args.eval_size,
                       epochs=args.epochs, lr=args.lr, max_length=args.max_length,
                       k=args.k, lam=args.lam, seed=args.seed,
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
    from sua.train import train_model

    _quiet_transformers()
    options = {k: v for k, v in (
        ("epochs", args.epochs), ("batch_size", args.batch_size), ("lr", args.lr), ("alpha", args.alpha),
        ("beta", args.beta), ("lam", args.lam), ("k_train", args.k_train), ("perturber", args.perturber),
        ("save_every", args.save_every), ("eval_every", args.eval_every), ("seed", args.seed),
        ("max_length", args.max_length), ("adv_epsilon", args.adv_epsilon), ("adv_steps", args.adv_steps),
        ("adv_norm", args.adv_norm),
        ("adv_clean_loss", None if args.adv_loss is None else args.adv_loss == "mean"))
        if v is not None}
    model_dir = train_model(args.task, args.method, args.data, args.out, backbone=args.model,
                            limit=args.limit, eval_data=args.eval_data, progress=not args.quiet, **options)
    print(f"model written to {model_dir}")


def _perturb(args: argparse.Namespace) -> None:
    from sua.models import load_model
    from sua.perturb import perturb_file

    _quiet_transformers()
    options = {name: value for name, value in (("max_edits", args.max_edits), ("budget", args.budget),
                                               ("max_swaps", args.max_swaps)) if value is not None}
    if args.weights:
        try:
            options["weights"] = {f: float(w) for f, w in (kv.split("=") for kv in args.weights.split(","))}
        except ValueError:
            raise SUAInputError(f"--weights must look like paraphrase=0.4,token=0.4,adversarial=0.2, "
                                f"got {args.weights!r}") from None
    if args.kinds:
        options["kinds"] = tuple(args.kinds.split(","))
    out = perturb_file(args.data, args.out, field=args.field, id_field=args.id_field,
                       context_field=args.context_field, k=args.k, family=args.family, seed=args.seed,
                       model=load_model(args.model) if args.model else None, protect=args.protect,
                       cache=not args.no_cache, cache_dir=args.cache_dir, limit=args.limit,
                       progress=not args.quiet, **options)
    print(f"perturbations written to {out}")


def _report(args: argparse.Namespace) -> None:
    from sua.eval.report import write_report

    print(*write_report(args.run_dir), sep="\n")


def _reproduce(args: argparse.Namespace) -> None:
    from sua.eval.reproduce import reproduce

    _quiet_transformers()
    run_dir = args.out or f"runs/reproduce-{Path(args.profile).stem}"
    out = reproduce(args.experiments, run_dir, profile=args.profile, seeds=args.seeds,
                    data_dir=args.data_dir, progress=not args.quiet)
    print(f"results: {out}\nreport: {out.parent / 'report' / 'report.md'} (and report.html)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sua", description="Sensitivity-Uncertainty Alignment: S(x), H(x), SUA(x) per input.")
    sub = parser.add_subparsers(dest="command", required=True)

    score = sub.add_parser("score", help="score a JSONL file with SUA")
    score.add_argument("--model", help="HF model folder or hub name (--backend hf-causal: default the "
                                       "offline SmolLM2; openai: the server's model name)")
    score.add_argument("--task", choices=["classification", "nli", *LM_ONLY_TASKS], default="classification")
    score.add_argument("--data", required=True,
                       help="input JSONL file, or a hub dataset hf:NAME[@CONFIG]:SPLIT")
    score.add_argument("--out", required=True, help="output JSONL file of score records")
    score.add_argument("--text-field", help="field of the (first) text; default per task")
    score.add_argument("--pair-field", help="field of the second text; '' for none")
    score.add_argument("--label-field", help="gold label field; '' to score without labels")
    score.add_argument("--id-field", default="id")
    score.add_argument("--perturber", default="token", help="perturbation family (default: token)")
    score.add_argument("--k", type=int, default=DEFAULT_K, help="perturbations per input")
    score.add_argument("--divergence", default=DEFAULT_DIVERGENCE)
    score.add_argument("--lam", type=float, default=DEFAULT_LAM, help="alignment coefficient λ")
    score.add_argument("--seed", type=int, default=0)
    score.add_argument("--limit", type=int, help="score only the first N inputs")
    score.add_argument("--batch-size", type=int, help="default 64; hf-causal: 4 prompt groups")
    score.add_argument("--max-length", type=int, help="tokens per input (default 256; hf-causal: 2048)")
    score.add_argument("--chunk-size", type=int, default=512, help="inputs per model call")
    score.add_argument("--overwrite", action="store_true", help="discard an existing --out")
    score.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_lm_score_options(score)
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

    demo = sub.add_parser("demo", help="fine-tune a small NLI model offline and score it with SUA")
    demo.add_argument("--data-dir", help="folder with nli/snli/{dev,test}.jsonl")
    demo.add_argument("--train-data", help="training JSONL or hub source hf:NAME[@CONFIG]:SPLIT")
    demo.add_argument("--test-data", help="evaluation JSONL or hub source hf:NAME[@CONFIG]:SPLIT")
    demo.add_argument("--model", help="backbone (default: the offline MiniLM)")
    demo.add_argument("--out", default="runs/demo")
    demo.add_argument("--train-size", type=int, default=None, help="training pairs (default: all)")
    demo.add_argument("--eval-size", type=int, default=200)
    demo.add_argument("--epochs", type=float, default=2.0)
    demo.add_argument("--lr", type=float, default=1e-4, help="fine-tuning learning rate")
    demo.add_argument("--max-length", type=int, default=64, help="tokens per training pair")
    demo.add_argument("--k", type=int, default=DEFAULT_K)
    demo.add_argument("--lam", type=float, default=DEFAULT_LAM)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quiet", action="store_true")
    demo.set_defaults(func=_demo)

    perturb = sub.add_parser("perturb", help="write K meaning-preserving perturbations per input (JSONL)")
    perturb.add_argument("--data", required=True, help="input JSONL file")
    perturb.add_argument("--field", default="text", help="field to perturb")
    perturb.add_argument("--id-field", default="id")
    perturb.add_argument("--context-field",
                         help="first segment the model sees with the text (NLI premise); adversarial family")
    perturb.add_argument("--k", type=int, default=DEFAULT_K)
    perturb.add_argument("--out", required=True)
    perturb.add_argument("--family", default="mixture", help="token, paraphrase, adversarial or mixture")
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
    perturb.add_argument("--quiet", action="store_true")
    perturb.set_defaults(func=_perturb)

    train = sub.add_parser("train", help="fine-tune a classifier: standard, PGD adversarial training, SUA-TR")
    train.add_argument("--task", choices=["nli", "classification", "qa"], default="nli")
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
    train.add_argument("--max-length", type=int, help="tokens per input (qa: question + context window)")
    train.add_argument("--lr", type=float)
    train.add_argument("--alpha", type=float, help="consistency weight α (sua-tr)")
    train.add_argument("--beta", type=float, help="alignment weight β (sua-tr)")
    train.add_argument("--lam", type=float, help="λ in L_align")
    train.add_argument("--k-train", type=int, help="rewrites per example and epoch (sua-tr)")
    train.add_argument("--perturber", help="perturbation family for sua-tr (default: token)")
    train.add_argument("--adv-epsilon", type=float, help="at: radius of the PGD ball on the word embeddings")
    train.add_argument("--adv-steps", type=int, help="at: PGD steps per batch")
    train.add_argument("--adv-norm", choices=["linf", "l2"], help="at: the ball's norm (default linf)")
    train.add_argument("--adv-loss", choices=["mean", "adversarial"],
                       help="at: ½(L(x) + L(x+δ)) (mean, the default) or L(x+δ) alone")
    train.add_argument("--save-every", type=int, help="checkpoint every N steps; rerun the command to resume")
    train.add_argument("--eval-every", type=int)
    train.add_argument("--seed", type=int)
    train.add_argument("--quiet", action="store_true")
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
    fit.add_argument("--score", choices=["sua", "entropy", "combined"], default="sua")
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
    reproduce.add_argument("--seeds", type=int, help="number of seeds (default: the profile's)")
    reproduce.add_argument("--out", default=None, help="run folder (default: runs/reproduce-<profile>)")
    reproduce.add_argument("--data-dir", help="data folder (default: $SUA_DATA_DIR or ../shared/data)")
    reproduce.add_argument("--quiet", action="store_true", help="no progress bars")
    reproduce.set_defaults(func=_reproduce)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `sua` console command. Bad input: one line on stderr, exit 2."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except SUAInputError as exc:
        print(f"sua {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sua {args.command}: interrupted; finished records are kept, rerun to resume",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
