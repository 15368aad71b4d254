"""The hard-sample loop (``ocrlab-loop``): generate -> pairs -> train -> predict -> mine, per round.

Round 0 generates ``data.synth.invoices`` documents; round *r* > 0 adds ``loop.hard_documents``
documents generated from round *r-1*'s synthesis plan (the hard-sample miner's). All rounds write
one growing dataset (``<loop.dir>/invoices``, a part per round, so document ids never repeat and
one ground-truth folder serves the miner); each round splits its new documents into training and
validation (``loop.val_share``) and trains on every round's training documents so far
(``loop.cumulative``), from the same starting weights (``model.pretrained``), so rounds differ in
their data only. Every round is tested on one fixed held-out set (``loop.holdout``: generated once,
with more hard documents than training) and mined on its validation documents, predicted by the
round's best checkpoint.

``<loop.dir>/loop_state.json`` records each finished stage (written atomically after it), so the
same command run again resumes at the round and stage it reached (an interrupted training resumes
from its ``last.ckpt``); ``rounds=N`` larger than before adds rounds. A loop dir holds one loop:
a different configuration is refused (the state's copy of it holds no secret). ``rounds.json`` /
``rounds.csv`` hold one row of metrics per round (held-out metrics overall and on the hard kinds
the round's plan targeted), printed and sent to the configured loggers.

The loop drives the data module's generator settings and the model's scored answers. Each round's
training runs in a process of its own (:mod:`ocrlab.child_training`), so it may use every
device of the machine (``trainer=ddp trainer.devices=4``, ``trainer=fsdp``) and ends with the
loop however the loop ends (Ctrl-C, SIGTERM, SIGKILL), its workers with it; the other stages run
in the loop's process, prediction on one device. The loop runs on one node.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from ocrlab.errors import ConfigError
from ocrlab.utils.io import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

STAGES = ("generate", "pairs", "train", "predict", "mine")
STATE_FILE, ROUNDS_FILE = "loop_state.json", "rounds.json"
FORMAT = "ocrlab-loop/1"
# keys whose change does not make another loop (where it lives, how long it runs, how it logs)
_FREE_KEYS = ("rounds", "paths", "hydra", "logger", "callbacks.progress_bar", "extras", "torch_threads")
# the held-out metrics a round's row shows (those the model logs)
ROW_METRICS = ("overall_score", "field_accuracy", "field_accuracy_normalized", "field_f1", "numeric_consistency",
               "teds", "json_valid_rate")


class LoopStateError(ConfigError):
    """The loop dir holds another loop, or a state that does not read."""


class Loop:
    def __init__(self, cfg: DictConfig):
        self.cfg = cfg
        settings = cfg.get("loop")
        if settings is None:
            raise ConfigError("no `loop` section in the config: compose the `loop` config (ocrlab-loop ...)")
        self.rounds = int(cfg.rounds)
        if self.rounds < 1:
            raise ConfigError(f"rounds={cfg.rounds}: expected >= 1")
        self.dir = Path(settings.dir).resolve()
        self.settings = OmegaConf.to_container(settings, resolve=True)
        synth = cfg.data.get("synth")
        if not synth or not synth.get("invoices"):
            raise ConfigError(f"ocrlab-loop generates its documents: data ({cfg.data.get('_target_')}) needs a `synth` "
                              "section with `invoices` (generator settings) and `pairs`, e.g. data=invoice_pairs")
        self.synth = OmegaConf.to_container(synth, resolve=True)
        if not 0 < float(self.settings["val_share"]) < 1:
            raise ConfigError(f"loop.val_share={self.settings['val_share']}: expected a fraction in (0, 1)")
        trainer = cfg.trainer
        if int(trainer.get("num_nodes") or 1) > 1:
            raise ConfigError(f"trainer.num_nodes={trainer.num_nodes}: ocrlab-loop runs on one node (its training "
                              "stage may use every device of it: trainer.devices); for rounds across nodes run "
                              "train.py per round on the loop's data dirs")
        self.state = self._load_state()

    # -- state ---------------------------------------------------------------------------------
    def _fingerprint(self) -> dict[str, Any]:
        """The configuration that makes this loop, as given (unresolved), less the keys that do
        not (:data:`_FREE_KEYS`), with no secret in it: secret-looking keys are left out, so a
        secret given, changed or left out is not another loop, and its value never reaches
        ``loop_state.json``."""
        plain = OmegaConf.to_container(self.cfg, resolve=False)
        for key in _FREE_KEYS:
            parent, _, leaf = key.rpartition(".")
            node = plain
            for part in parent.split(".") if parent else []:
                node = node.get(part, {}) if isinstance(node, dict) else {}
            if isinstance(node, dict):
                node.pop(leaf, None)
        plain.get("loop", {}).pop("dir", None)
        return _without_secrets(plain)

    def _load_state(self) -> dict[str, Any]:
        path = self.dir / STATE_FILE
        fingerprint = self._fingerprint()
        if not path.is_file():
            if self.dir.is_dir() and any(self.dir.iterdir()):
                raise LoopStateError(f"loop.dir {self.dir} is not empty and holds no {STATE_FILE}: choose a new "
                                     "or empty directory")
            return {"format": FORMAT, "config": fingerprint, "splits": {}, "rounds": {}}
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise LoopStateError(f"{path}: unreadable loop state ({e})") from None
        if state.get("format") != FORMAT:
            raise LoopStateError(f"{path}: not an ocrlab-loop state (format {FORMAT!r} expected)")
        # a state written before secrets were left out of it compares (and is saved) without them
        stored = _without_secrets(state["config"])
        if stored != fingerprint:
            changed = sorted(_diff(stored, fingerprint))
            raise LoopStateError(f"loop.dir {self.dir} holds a loop with another configuration (changed: "
                                 f"{', '.join(changed[:8])}); run it with its own settings to resume it, or choose "
                                 "another loop.dir")
        state["config"] = fingerprint
        done = sum(len(r["done"]) for r in state["rounds"].values())
        log.info("resuming the loop in %s (%d stage(s) done)", self.dir, done)
        return state

    def _round(self, r: int) -> dict[str, Any]:
        return self.state["rounds"].setdefault(str(r), {"done": [], "paths": {}, "metrics": {}})

    def _save(self) -> None:
        atomic_write_json(self.dir / STATE_FILE, self.state)

    # -- the rounds ----------------------------------------------------------------------------
    def run(self, stage_hook: Callable[[int, str], None] | None = None) -> list[dict[str, Any]]:
        """Run (or resume) every round; returns the per-round rows."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._save()
        self._holdout()
        for r in range(self.rounds):
            state = self._round(r)
            for stage in STAGES:
                if stage in state["done"]:
                    continue
                log.info("loop round %d/%d: %s", r + 1, self.rounds, stage)
                getattr(self, f"_{stage}")(r, state)
                state["done"].append(stage)
                self._save()
                if stage_hook is not None:
                    stage_hook(r, stage)
            self._write_rows()
        return self.rows()

    def _round_dir(self, r: int) -> Path:
        return self.dir / f"round_{r}"

    def _generator(self, seed: int, **changes: Any):
        from ocrlab.synth.invoices import InvoiceGenerator

        settings = {k: v for k, v in self.synth["invoices"].items() if k not in ("num_samples", "workers")}
        return InvoiceGenerator(**{**settings, "seed": seed, **changes})

    def _holdout(self) -> None:
        from ocrlab.synth.dataset import write_dataset
        from ocrlab.synth.pairs import make_pairs

        if self.state.get("holdout"):
            return
        holdout = self.settings["holdout"]
        docs = self.dir / "holdout" / "invoices"
        write_dataset(self._generator(int(holdout["seed"]), hard_ratio=float(holdout["hard_ratio"])), docs,
                      int(holdout["num_samples"]), workers=self._workers())
        pairs = self.dir / "holdout" / "pairs"
        make_pairs(docs, pairs, **{**self._pairs_settings(), "split": (1.0, 0.0, 0.0)})
        self.state["holdout"] = {"documents": str(docs), "pairs": str(pairs / "train.jsonl")}
        self._save()

    def _workers(self) -> int:
        return int(self.synth["invoices"].get("workers") or 1)

    def _pairs_settings(self) -> dict[str, Any]:
        return {k: v for k, v in (self.synth.get("pairs") or {}).items() if k != "split"}

    # -- stages --------------------------------------------------------------------------------
    def _generate(self, r: int, state: dict) -> None:
        from ocrlab.synth.dataset import write_dataset
        from ocrlab.synth.plan import load_plan

        invoices = self.synth["invoices"]
        seed = int(invoices.get("seed", 0)) + r
        if r == 0:
            generator, count = self._generator(seed), int(invoices.get("num_samples", 200))
        else:
            plan = self.state["rounds"][str(r - 1)]["paths"]["plan"]
            generator, count = self._generator(seed, plan=load_plan(plan)), int(self.settings["hard_documents"])
            state["paths"]["generated_from"] = plan
        summary = write_dataset(generator, self.dir / "invoices", count, workers=self._workers(), extend=r > 0)
        state["metrics"]["new_documents"] = count
        state["metrics"]["documents"] = summary.num_samples

    def _pairs(self, r: int, state: dict) -> None:
        """Pairs of the whole dataset (one make_pairs run), split here by document: earlier rounds'
        documents keep their split; this round's new ones are split by ``loop.val_share``."""
        from ocrlab.synth.pairs import make_pairs, read_pairs, split_documents

        pairs = self._round_dir(r) / "pairs"
        make_pairs(self.dir / "invoices", pairs, **{**self._pairs_settings(), "split": (1.0, 0.0, 0.0)})
        rows = read_pairs(pairs / "train.jsonl")
        splits = self.state["splits"]
        new = sorted({str(row["id"]) for row in rows} - set(splits))
        share = float(self.settings["val_share"])
        seed = int(self._pairs_settings().get("seed", 0)) + r
        for name, ids in split_documents(new, seed, (1 - share, share, 0.0)).items():
            splits.update(dict.fromkeys(ids, f"{name}:{r}"))
        cumulative = bool(self.settings["cumulative"])

        def wanted(row: dict, split: str) -> bool:
            name, _, made = splits[str(row["id"])].partition(":")
            return name == split and (split == "val" or cumulative or int(made) == r)

        data = self._round_dir(r) / "data"
        holdout = read_pairs(self.state["holdout"]["pairs"])
        for split, chosen in (("train", [x for x in rows if wanted(x, "train")]),
                              ("val", [x for x in rows if wanted(x, "val")]), ("test", holdout)):
            if not chosen:
                raise ConfigError(f"loop round {r}: no {split} pairs (raise the round's documents or loop.val_share)")
            atomic_write_text(data / f"{split}.jsonl", "".join(json.dumps(x, ensure_ascii=False) + "\n"
                                                               for x in chosen))
        state["paths"]["data"] = str(data)
        state["metrics"]["train_documents"] = len({x["id"] for x in rows if wanted(x, "train")})

    def _train(self, r: int, state: dict) -> None:
        from ocrlab.child_training import train_in_child_process

        run = self._round_dir(r) / "run"
        last = run / "checkpoints" / "last.ckpt"
        cfg = self._stage_config(run, state["paths"]["data"], ckpt_path=str(last) if last.exists() else None,
                                 test=True, train=True)
        if last.exists():
            log.info("round %d: resuming the interrupted training from %s", r, last)
        if "wandb" in (cfg.get("logger") or {}):  # one W&B group per loop, a run per round
            cfg.logger.wandb.group = f"loop-{self.dir.name}"
            cfg.logger.wandb.name = f"{self.dir.name}-round{r}"
        result = train_in_child_process(cfg, self._round_dir(r) / "train_process")
        metrics = result["metrics"]
        best = result["best_model_path"] or (str(last) if last.exists() else "")
        if not best:
            raise ConfigError(f"loop round {r}: training wrote no checkpoint to predict with (checkpoint callbacks "
                              "are needed: callbacks.model_checkpoint / last_checkpoint)")
        state["paths"].update(run=str(run), checkpoint=best)
        state["metrics"].update({k: v for k, v in metrics.items() if k.startswith("test/")})
        report = run / "reports" / "extraction_report.json"
        if report.is_file():
            state["paths"]["report"] = str(report)

    def _predict(self, r: int, state: dict) -> None:
        """The best checkpoint's answers to the round's validation documents (what is mined)."""
        from ocrlab.evaluation import evaluate

        source = Path(state["paths"]["data"]) / "val.jsonl"
        mine_set = self._round_dir(r) / "mine_set"
        atomic_write_text(mine_set / "test.jsonl", source.read_text(encoding="utf-8"))
        out = self._round_dir(r) / "predict"
        cfg = self._stage_config(out, str(mine_set), ckpt_path=state["paths"]["checkpoint"])
        with open_dict(cfg):  # generation on one device, in this process
            cfg.trainer.strategy, cfg.trainer.devices, cfg.trainer.num_nodes = "auto", 1, 1
        evaluate(cfg)
        state["paths"]["predictions"] = str(out / "predictions.jsonl")

    def _mine(self, r: int, state: dict) -> None:
        from ocrlab.families.paddleocr_vl.mining import analyse, read_predictions, write_analysis

        rows = read_predictions(state["paths"]["predictions"])
        analysis = analyse(rows, self.dir / "invoices", min_errors=int(self.settings["min_errors"]))
        out = self._round_dir(r)
        write_analysis(analysis, out / "hard_samples_analysis.json", plan_path=out / "plan.json")
        state["paths"].update(analysis=str(out / "hard_samples_analysis.json"), plan=str(out / "plan.json"))
        summary = analysis["summary"]
        state["metrics"].update({"mine/hard_documents": summary["hard_documents"],
                                 "mine/hard_share": summary["hard_share"]})

    def _stage_config(self, output_dir: Path, pairs_dir: str, **top: Any) -> DictConfig:
        """A copy of the loop's config for one stage (the loop's own is never changed)."""
        cfg = copy.deepcopy(self.cfg)
        with open_dict(cfg):
            cfg.paths.output_dir = str(output_dir)
            cfg.data.pairs_dir = str(pairs_dir)
            cfg.data.synth = None
            for key, value in top.items():
                cfg[key] = value
        output_dir.mkdir(parents=True, exist_ok=True)
        return cfg

    # -- the table -----------------------------------------------------------------------------
    def targeted_kinds(self, r: int) -> list[str]:
        """The hard kinds round ``r``'s documents were generated for: the previous plan's
        heaviest (weight above the base 1), at most ``loop.targeted_kinds``."""
        from ocrlab.synth.plan import load_plan

        if r == 0:
            return []
        weights = load_plan(self.state["rounds"][str(r - 1)]["paths"]["plan"]).hard_kind_weights()
        ranked = sorted((w, k) for k, w in weights.items() if w > 1.0)
        ranked.sort(key=lambda wk: (-wk[0], wk[1]))
        return [k for _, k in ranked[: int(self.settings["targeted_kinds"])]]

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for r in range(self.rounds):
            state = self.state["rounds"].get(str(r))
            if not state or "mine" not in state["done"]:
                continue
            m = state["metrics"]
            row: dict[str, Any] = {"round": r, "documents": m.get("documents"), "train_documents": m.get(
                "train_documents")}
            row.update({f"test/{k}": m[f"test/{k}"] for k in ROW_METRICS if f"test/{k}" in m})
            # the targeted kinds of every round, also before they were targeted: the comparison
            kinds = sorted({k for q in range(1, self.rounds) if str(q - 1) in self.state["rounds"]
                            and self.state["rounds"][str(q - 1)]["paths"].get("plan") for k in self.targeted_kinds(q)})
            row["targeted_kinds"] = ",".join(self.targeted_kinds(r))
            row.update(_kind_metrics(state["paths"].get("report"), kinds))
            row.update({k: m[k] for k in ("mine/hard_documents", "mine/hard_share") if k in m})
            rows.append(row)
        return rows

    def _write_rows(self) -> None:
        rows = self.rows()
        atomic_write_json(self.dir / ROUNDS_FILE, rows)
        columns = list(dict.fromkeys(k for row in rows for k in row))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.dir / "rounds.csv", buf.getvalue())


def _kind_metrics(report_path: str | None, kinds: list[str]) -> dict[str, float]:
    """Held-out field accuracy / numeric consistency on documents of each kind (the report's
    per-hard-kind breakdown) and their mean over ``kinds``."""
    if not report_path or not kinds:
        return {}
    breakdown = json.loads(Path(report_path).read_text(encoding="utf-8"))["breakdown"]["hard_kinds"]
    out: dict[str, float] = {}
    for metric in ("field_accuracy_normalized", "numeric_consistency"):
        values = [breakdown[k][metric] for k in kinds if metric in breakdown.get(k, {})]
        for k in kinds:
            if metric in breakdown.get(k, {}):
                out[f"kind/{k}/{metric}"] = breakdown[k][metric]
        if values:
            out[f"targeted/{metric}"] = sum(values) / len(values)
    return out


def _without_secrets(plain: Any) -> Any:
    from ocrlab.utils.secrets import without_secrets

    return without_secrets(json.loads(json.dumps(plain, default=str)), drop=True)


def _diff(a: Any, b: Any, prefix: str = "") -> set[str]:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out: set[str] = set()
        for key in set(a) | set(b):
            out |= _diff(a.get(key), b.get(key), f"{prefix}{key}.")
        return out
    return set() if a == b else {prefix.rstrip(".")}


def log_rows(rows: list[dict[str, Any]], loggers: list[Any]) -> None:
    """Each round's row to the loggers (step = round) and, where a logger has tables, the table."""
    for logger in loggers:
        for row in rows:
            logger.log_metrics({f"loop/{k}": float(v) for k, v in row.items()
                                if isinstance(v, (int, float)) and k != "round"}, step=int(row["round"]))
        if rows and callable(getattr(logger, "log_table", None)):
            columns = list(dict.fromkeys(k for row in rows for k in row))
            logger.log_table(key="loop/rounds", columns=columns, data=[[row.get(c) for c in columns] for row in rows])
        logger.save()


def print_rows(rows: list[dict[str, Any]], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    columns = [c for c in dict.fromkeys(k for row in rows for k in row) if not c.startswith("kind/")]
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column == "targeted_kinds" else "right")
    for row in rows:
        table.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v if v is not None else "")
                        for v in (row.get(c) for c in columns)])
    Console().print(table)
