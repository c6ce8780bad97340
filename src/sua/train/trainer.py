"""The one training loop: Standard, adversarial training (AT) and SUA-TR for HF sequence classifiers
and extractive QA models."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from sua.errors import SUAInputError
from sua.inputs import Example, ModelInput
from sua.models import HFExtractiveQA, HFSequenceClassifier
from sua.models.precision import autocast
from sua.perturb import Perturber
from sua.scoring import SUAScorer
from sua.tasks import rewritten_side
from sua.train.adversarial import EmbeddingPGD
from sua.train.batches import BatchPlan, linear_warmup_decay
from sua.train.checkpoint import checkpoints, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from sua.train.config import TrainConfig, complete_saved
from sua.train.heads import make_head
from sua.train.loss import LossTerms, SUATRLoss
from sua.train.parallel import gather, is_main, shard, sum_across, sum_gradients, world
from sua.train.rewrites import check_family, draw_rewrites, make_perturber

LOG_TERMS = ("loss", "task", "cons", "align", "S", "H")


class _Window:
    """Example-weighted running means of the logged loss terms between two log lines."""

    def __init__(self, state: dict[str, float] | None = None) -> None:
        self.sums = dict(state or dict.fromkeys((*LOG_TERMS, "n"), 0.0))

    def add(self, terms: LossTerms | None, n: int) -> None:
        """Add a micro-batch's terms weighted by its ``n`` examples, summed over the processes of
        data-parallel training (``terms`` is ``None`` where a process got no examples)."""
        sums = dict.fromkeys(LOG_TERMS, 0.0) if terms is None else \
            {key: value * n for key, value in terms.as_floats().items()}
        for key, value in sum_across({**sums, "n": float(n)}).items():
            self.sums[key] += value

    def means(self) -> dict[str, float | None]:
        """Mean of each term over the window (6 significant digits; ``None`` for NaN, e.g. S
        when no rewrites are used)."""
        n = self.sums["n"] or 1.0
        return {k: None if math.isnan(v := self.sums[k] / n) else float(f"{v:.6g}") for k in LOG_TERMS}

    def postfix(self) -> dict[str, str]:
        """The progress bar's fields: the three loss terms, mean S and mean H."""
        return {k: f"{v:.3f}" for k, v in self.means().items() if k != "loss" and v is not None}


@dataclass(frozen=True)
class _Fit:
    """What one :meth:`SUATrainer.fit` call trains with: the usable examples, their features and
    targets, the batch plan, the optimiser and its schedule, and the held-out examples with
    their scorer (``None`` when nothing is evaluated)."""

    examples: list[Example]
    clean: list[Any]
    targets: torch.Tensor
    plan: BatchPlan
    optimizer: torch.optim.Optimizer
    scheduler: Any
    eval_examples: Sequence[Example] | None
    scorer: SUAScorer | None


class SUATrainer:
    """Fine-tune a Hugging Face model with ``L = L_task + α·L_cons + β·L_align``.

    The model's kind of output is a *head* (:mod:`sua.train.heads`), read from the model:
    ``qa`` for a ``*ForQuestionAnswering`` model, else ``classification``; a sequence classifier
    (logits over ``labels``) or an extractive QA model, whose start and end distributions over
    the context window each enter eq. 15 and are averaged (only the question is rewritten;
    examples whose answer lies outside the window are skipped and counted in the log's first
    line). Everything below is shared by the heads.

    Methods (``config.method``): ``standard`` (α = β = 0), ``at`` (the mean of L_task on the
    clean input and on the PGD perturbation of its word embeddings,
    :class:`~sua.train.adversarial.EmbeddingPGD`, or the latter alone without
    ``config.adv_clean_loss``; no entropy term) and ``sua-tr``
    (:class:`~sua.train.loss.SUATRLoss` with ``k_train`` rewrites per example drawn from
    ``perturber`` — by default the registered family ``config.perturber`` — once per epoch with
    seed ``config.seed + epoch`` and cached).

    Passes per micro-batch: with ``stop_grad="perturbed"`` (the paper's setting, any α, β)
    gradients never reach the perturbed predictions, so the clean batch runs with a graph (in
    training mode) and its K·N rewrites in one pass under ``torch.no_grad()`` in eval mode: the
    targets ``sg[p(·|x')]`` are the model's deterministic predictions, as at inference, and
    skipping dropout makes that pass about a third cheaper. With ``stop_grad="clean"`` clean and
    perturbed inputs are padded into one batch and run in one pass with a graph, in training
    mode. Micro-batch losses are weighted by their share of the optimizer step's examples, so
    gradient accumulation equals one large batch.

    With ``out_dir`` the trainer writes ``train_log.jsonl`` (every ``log_every`` steps: step,
    epoch, learning rate, the mean loss terms, mean S and mean H of the training batches since
    the previous line, and held-out ``eval`` S/H/accuracy every ``eval_every`` steps) and
    ``checkpoints/step-*.pt`` every ``save_every`` steps (model, optimizer, scheduler, RNG
    states, step, the epoch's rewrites); ``fit(resume=True)`` continues from the latest one and
    ends with the same weights as an uninterrupted run.

    Inside a ``torch.distributed`` process group (:mod:`sua.train.parallel`, ``sua train --nproc``)
    each process takes every world-size-th example of each micro-batch and gradients and logged
    terms are summed across processes, so the steps are those of one process with the same global
    batch; the first process evaluates and writes the log and checkpoints.

    >>> # trainer = SUATrainer(model, tokenizer, ["entailment", "neutral", "contradiction"],
    >>> #                      make_config("sua-tr", epochs=2), out_dir="runs/nli-suatr")
    >>> # classifier = trainer.fit(train_examples, eval_examples=held_out)
    >>> # qa = SUATrainer(qa_model, tokenizer, None, make_config("sua-tr", max_length=256)).fit(squad)
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Any,
        labels: Sequence[str] | None,
        config: TrainConfig | None = None,
        *,
        perturber: Perturber | None = None,
        out_dir: str | os.PathLike[str] | None = None,
        progress: bool = True,
        device: str | torch.device | None = None,
    ) -> None:
        self.config = config = config or TrainConfig()
        self.head = make_head(model, tokenizer, labels, config, device)
        self.model = self.head.predictor.model
        self.loss = SUATRLoss(config.alpha, config.beta, config.lam, config.divergence,
                              config.stop_grad)
        self.pgd = EmbeddingPGD(config.adv_epsilon, config.pgd_step_size, config.adv_steps,
                                config.adv_norm) if config.method == "at" else None
        if perturber is None and self.loss.needs_perturbed:
            check_family(config.perturber)  # fail now; the family is built in fit (it may need data)
        self.perturber = perturber
        self._train_perturber: Perturber | None = None  # built in fit: it may need the examples
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.progress = progress
        self._epoch: tuple[int, list[list[ModelInput]], list[list[Any]]] | None = None

    @property
    def classifier(self) -> HFSequenceClassifier | HFExtractiveQA:
        """The inference adapter of the model being trained (what :meth:`fit` returns)."""
        return self.head.predictor

    # -- data --------------------------------------------------------------------------

    def _logits(self, features: Sequence[Any]) -> torch.Tensor:
        return self._read(self.model(**self.head.pad(features)), features)

    def _read(self, output: Any, features: Sequence[Any]) -> torch.Tensor:
        """The loss's logits from a model output, in float32 (bf16 autocast leaves them bf16)."""
        return self.head.logits(output, features).float()

    def _cache_epoch(self, epoch: int, inputs: list[list[ModelInput]]) -> None:
        k = self.config.k_train
        flat = self.head.tokenize([x for row in inputs for x in row])
        self._epoch = (epoch, inputs, [flat[i * k:(i + 1) * k] for i in range(len(inputs))])

    def _epoch_rewrites(self, examples: Sequence[Example], epoch: int) -> list[list[Any]]:
        """This epoch's tokenised rewrites (N lists of K), drawn once with seed ``seed + epoch``."""
        if self._epoch is None or self._epoch[0] != epoch:
            if self._train_perturber is None:
                self._train_perturber = self._perturber(examples)
            self._cache_epoch(epoch, draw_rewrites(
                self._train_perturber, examples, self.config.k_train, seed=self.config.seed + epoch,
                field=self.config.perturb_field))
        assert self._epoch is not None
        return self._epoch[2]

    # -- one micro-batch -----------------------------------------------------------------

    def batch_loss(self, clean: Sequence[Any], perturbed: list[list[Any]] | None,
                   labels: torch.Tensor) -> LossTerms:
        """The loss terms of one micro-batch (forward passes only; the caller steps).

        ``clean``: the features of the inputs (as the head's ``tokenize`` returns, e.g.
        :meth:`HFSequenceClassifier.tokenize`); ``perturbed``: ``k_train`` featurised rewrites
        per input, or ``None`` when α = β = 0; ``labels``: the head's targets (class ids, or
        start/end positions). ``at`` runs the PGD attack first. The forward passes run at
        ``config.precision`` (bf16: autocast); the returned terms are float32.
        """
        with autocast(self.config.precision, self.head.predictor.device):
            return self._batch_loss(clean, perturbed, labels)

    def _batch_loss(self, clean: Sequence[Any], perturbed: list[list[Any]] | None,
                    labels: torch.Tensor) -> LossTerms:
        model, n = self.model, len(clean)
        if self.pgd is not None:
            batch = self.head.pad(clean)
            adversarial = self.loss(self.pgd.logits(model, batch, labels,
                                                    lambda output: self._read(output, clean)),
                                    labels)
            if not self.config.adv_clean_loss:
                return adversarial
            clean_terms = self.loss(self._read(model(**batch), clean), labels)
            return LossTerms.mean([clean_terms, adversarial])
        if perturbed is None:
            return self.loss(self._logits(clean), labels)
        flat = [f for row in perturbed for f in row]
        if self.loss.perturbed_needs_graph:
            logits = self._logits(list(clean) + flat)
            clean_logits, pert_logits = logits[:n], logits[n:]
        else:  # the targets sg[p(.|x')]: no graph, no dropout (as at inference)
            clean_logits = self._logits(clean)
            model.eval()
            try:
                with torch.no_grad():
                    pert_logits = self._logits(flat)
            finally:
                model.train()
        shape = (n, self.config.k_train, *clean_logits.shape[1:])
        return self.loss(clean_logits, labels, pert_logits.reshape(shape))

    # -- files ---------------------------------------------------------------------------

    @property
    def log_path(self) -> Path | None:
        """The log file; ``None`` without ``out_dir`` and in the other processes of data-parallel
        training (the first writes it)."""
        return None if self.out_dir is None or not is_main() else self.out_dir / "train_log.jsonl"

    @property
    def checkpoint_dir(self) -> Path | None:
        return None if self.out_dir is None else self.out_dir / "checkpoints"

    def _append_log(self, record: dict[str, Any]) -> None:
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")

    def _truncate_log(self, step: int) -> None:
        """Keep the log lines up to ``step`` (all of them are rewritten by a resumed run)."""
        path = self.log_path
        if path is None or not path.exists():
            return
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        path.write_text("".join(line + "\n" for line in lines if json.loads(line)["step"] <= step),
                        encoding="utf-8")

    def _perturber(self, examples: Sequence[Example]) -> Perturber:
        """The perturber given to the trainer, else the configured family for ``examples``."""
        return self.perturber or make_perturber(self.config, model=self.classifier, examples=examples)

    def _scorer(self, examples: Sequence[Example]) -> SUAScorer:
        return self.head.scorer(self._perturber(examples), self.config)

    def evaluate(self, examples: Sequence[Example],
                 scorer: SUAScorer | None = None) -> dict[str, float | None]:
        """Mean S, H and SUA (``eval_k`` rewrites from the configured family, seed ``config.seed``)
        and accuracy (QA: exact match) of the current model on ``examples``; ``scorer`` reuses a
        built scorer."""
        records = list((scorer or self._scorer(examples)).score(examples))
        correct = [r.correct for r in records if r.correct is not None]
        return {"S": float(np.mean([r.sensitivity for r in records])),
                "H": float(np.mean([r.entropy for r in records])),
                "SUA": float(np.mean([r.sua for r in records])),
                "accuracy": float(np.mean(correct)) if correct else None,
                "n": len(records)}

    # -- the loop --------------------------------------------------------------------------

    def fit(self, examples: Iterable[Example], *, eval_examples: Sequence[Example] | None = None,
            resume: bool = False) -> HFSequenceClassifier | HFExtractiveQA:
        """Train on ``examples`` (labelled with names from ``labels``, or QA examples with gold
        answers); return the trained model's inference adapter.

        ``eval_examples`` are scored every ``eval_every`` steps, before the first and after the last.
        ``resume=True`` continues from the latest checkpoint in ``out_dir`` when there is one
        (its config must equal this trainer's) and starts afresh otherwise; without it,
        checkpoints left in ``out_dir`` by an earlier run are an error (never overwritten).
        """
        run, skipped = self._prepare(examples, eval_examples)
        start, window = self._start(run, resume, skipped)
        self.model.train()
        bar = tqdm(range(start, run.plan.n_steps), initial=start, total=run.plan.n_steps, unit="step",
                   desc=f"training ({self.config.method})", disable=not self.progress)
        try:
            for step in bar:
                self._step(run, step, window)
                window = self._bookkeeping(run, step + 1, window, bar)
        finally:
            bar.close()
            self.model.eval()
        return self.classifier

    def _prepare(self, examples: Iterable[Example],
                 eval_examples: Sequence[Example] | None) -> tuple[_Fit, int]:
        """The state of one :meth:`fit` call and how many examples the head could not use."""
        cfg = self.config
        examples = list(examples)
        if not examples:
            raise SUAInputError("no training examples")
        kept, clean, targets = self.head.encode(examples)
        plan = BatchPlan(len(kept), cfg.batch_size, cfg.grad_accum, cfg.epochs, cfg.seed,
                         tuple(self.head.length(f) for f in clean) if cfg.length_buckets else None)
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, linear_warmup_decay(plan.n_steps, cfg.warmup_ratio))
        self._epoch, self._train_perturber = None, None
        scorer = self._scorer(eval_examples) if eval_examples and cfg.eval_every and is_main() else None
        run = _Fit([examples[i] for i in kept], clean, targets, plan, optimizer, scheduler, eval_examples,
                   scorer)
        return run, len(examples) - len(kept)

    def _start(self, run: _Fit, resume: bool, skipped: int) -> tuple[int, _Window]:
        """``(first step, log window)``: restored from the latest checkpoint, or a fresh start
        (seeded, the log emptied, its first line written when there is something to say)."""
        found = checkpoints(self.checkpoint_dir) if self.checkpoint_dir else []
        if found and not resume:
            raise SUAInputError(f"{self.checkpoint_dir} holds checkpoints of an earlier run; pass "
                                "resume=True to continue it, or remove them to start afresh")
        if found:
            return self._restore(found[-1], run.optimizer, run.scheduler, rewritten_side(run.examples[0]))
        torch.manual_seed(self.config.seed + world()[0])  # data-parallel: each process its own dropout masks
        self._truncate_log(-1)
        first: dict[str, Any] = {"skipped_examples": skipped} if skipped else {}
        if self.config.max_length is None:
            first["max_length"] = self.head.predictor.max_length
        if run.scorer is not None:
            first["eval"] = self.evaluate(run.eval_examples or [], run.scorer)
        if first:
            self._append_log({"step": 0, "epoch": 0.0, **first})
        return 0, _Window()

    def _step(self, run: _Fit, step: int, window: _Window) -> None:
        """One optimizer step: its micro-batches' gradients (weighted by their share of the step's
        examples, summed across processes), clipping, the AdamW and scheduler steps."""
        micro = run.plan.micro_batches(step)
        n_step = sum(len(idx) for _, idx in micro)
        for epoch, idx in micro:
            idx, terms = shard(idx), None  # data-parallel: this process's share
            if len(idx):
                rows = self._epoch_rewrites(run.examples, epoch) if self.loss.needs_perturbed else None
                terms = self.batch_loss([run.clean[i] for i in idx],
                                        None if rows is None else [rows[i] for i in idx], run.targets[idx])
                (terms.total * (len(idx) / n_step)).backward()
            window.add(terms, len(idx))
        sum_gradients(self.model.parameters())
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
        run.optimizer.step()
        run.scheduler.step()
        run.optimizer.zero_grad(set_to_none=True)

    def _bookkeeping(self, run: _Fit, done: int, window: _Window, bar: Any) -> _Window:
        """After step ``done``: the log line (with the held-out evaluation when due) and the
        checkpoint when due; returns the log window to continue with (a fresh one after a line)."""
        cfg, last = self.config, done == run.plan.n_steps
        eval_due = run.scorer is not None and (done % (cfg.eval_every or 1) == 0 or last)
        if done % cfg.log_every == 0 or last or eval_due:
            record = {"step": done, "epoch": round(run.plan.epoch_progress(done), 4),
                      "lr": run.scheduler.get_last_lr()[0], **window.means()}
            if eval_due:
                record["eval"] = self.evaluate(run.eval_examples or [], run.scorer)
            self._append_log(record)
            bar.set_postfix(window.postfix())
            window = _Window()
        if cfg.save_every and self.checkpoint_dir and done % cfg.save_every == 0:
            self._save(done, run.optimizer, run.scheduler, window)
        return window

    # -- checkpoints -----------------------------------------------------------------------

    def _config_json(self) -> str:
        return json.dumps(self.config.training_dict(), default=repr, sort_keys=True)

    def _save(self, step: int, optimizer: torch.optim.Optimizer, scheduler: Any,
              window: _Window) -> Path | None:
        """Write a checkpoint (the first process; with data parallelism it holds every process's
        random state, gathered here, under ``rng_ranks``)."""
        assert self.checkpoint_dir is not None
        ranks = gather(rng_state())
        if not is_main():
            return None
        state = {"format": 1, "step": step, "config": self._config_json(),
                 "model": self.model.state_dict(), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "rng": rng_state(), "window": window.sums,
                 "epoch": None if self._epoch is None else self._epoch[:2]}
        if ranks is not None:
            state["rng_ranks"] = ranks
        return save_checkpoint(self.checkpoint_dir, step, state, keep=self.config.keep_checkpoints)

    def _restore(self, path: Path, optimizer: torch.optim.Optimizer, scheduler: Any,
                 auto_side: str) -> tuple[int, _Window]:
        """``auto_side``: the side ``perturb_field="auto"`` rewrites on this data; ``auto`` on either
        side (the checkpoint's or this run's) compares as that side."""
        state = load_checkpoint(path)
        saved = complete_saved(json.loads(state["config"]), auto_side)
        current = complete_saved(json.loads(self._config_json()), auto_side)
        if saved != current:
            changed = sorted(k for k in current if saved.get(k) != current[k])
            raise SUAInputError(f"checkpoint {path} was written with a different training config "
                                f"(differs in: {', '.join(changed)}); resume with the same config "
                                "or use another output folder")
        self.model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        rank, size = world()
        ranks = state.get("rng_ranks") or []
        set_rng_state(ranks[rank] if len(ranks) == size else state["rng"])
        self._epoch = None
        if state["epoch"] is not None:
            self._cache_epoch(*state["epoch"])
        self._truncate_log(state["step"])
        return state["step"], _Window(state["window"])
