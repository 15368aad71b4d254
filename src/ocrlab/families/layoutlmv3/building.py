"""How a LayoutLMv3 multitask network gets its weights and training setup: a local HF model
directory (``pretrained``), another ocrlab checkpoint (``init_from``), frozen parameter prefixes
and activation checkpointing. The module (:mod:`ocrlab.families.layoutlmv3.module`) calls these
while it is built."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from torch import nn

from ocrlab.errors import CheckpointError, ConfigError
from ocrlab.families.layoutlmv3.labels import DocumentLabelMap
from ocrlab.families.layoutlmv3.net import LayoutMultitaskNet
from ocrlab.families.layoutlmv3.tokenizer import DocumentTokenizer

log = logging.getLogger(__name__)


def pretrained_parts(path: Path):
    """(``LayoutLMv3Config``, its tokenizer) of a local model directory (never a hub name)."""
    from transformers import LayoutLMv3Config

    if not (path / "config.json").is_file():
        raise ConfigError(f"model.pretrained={path}: no config.json there (expected a local LayoutLMv3 "
                          "model directory; no model hub is contacted)")
    config = LayoutLMv3Config.from_pretrained(str(path), local_files_only=True)
    return config, DocumentTokenizer(pretrained=str(path), vocab_size=config.vocab_size)


def load_pretrained_backbone(net: LayoutMultitaskNet, path: Path) -> None:
    from transformers import LayoutLMv3Model

    loaded = LayoutLMv3Model.from_pretrained(str(path), local_files_only=True, use_safetensors=None)
    missing, unexpected = net.backbone.load_state_dict(loaded.state_dict(), strict=False)
    if missing:
        raise CheckpointError(f"model.pretrained={path}: the encoder lacks weights {missing[:5]}")
    log.info("encoder weights from %s%s", path, f" (ignored: {unexpected[:5]})" if unexpected else "")


def load_init_from(net: LayoutMultitaskNet, tokenizer: DocumentTokenizer, labels: DocumentLabelMap,
                   path: str) -> None:
    """Weights of another ocrlab checkpoint of this family; its tokenizer must be ``tokenizer``
    (the module's ``label_spaces_from_weights`` took it from there) and its label map ``labels``
    or a prefix of it (labels appended keep their rows)."""
    from hydra.utils import instantiate

    from ocrlab.loading import load_checkpoint
    from ocrlab.model_files import CHECKPOINT_KEY

    ckpt = load_checkpoint(path)
    stored = ckpt[CHECKPOINT_KEY].get("label_space") or {}
    if "tokenizer" in stored:
        tokenizer.check_same(instantiate(stored["tokenizer"]), f"model.init_from={path}")
    old_labels = instantiate(stored["labels"]) if "labels" in stored else None
    if old_labels is not None and old_labels != labels and not labels.extends(old_labels):
        labels.check_same(old_labels, f"model.init_from={path}")
    state = {k[len("net."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    own = net.state_dict()
    for key in ("token_head.weight", "token_head.bias"):
        if key in state and state[key].shape != own[key].shape:  # appended labels: old rows kept
            grown = own[key].clone()
            grown[: state[key].shape[0]] = state[key]
            state[key] = grown
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(f"model.init_from={path}: its encoder does not fit this model config: {e}") from e
    log.info("weights from %s (fresh optimizer)", path)


def checkpoint_activations(net: LayoutMultitaskNet) -> None:
    """Recompute each transformer block in the backward pass (HF's LayoutLMv3 has no
    ``gradient_checkpointing_enable``): torch's non-reentrant checkpoint wrapper, which keeps
    parameter names in the state dict. Under FSDP prefer the strategy's own flag."""
    from functools import partial

    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import (
        CheckpointImpl,
        apply_activation_checkpointing,
        checkpoint_wrapper,
    )

    layer = net.layer_class
    apply_activation_checkpointing(net.backbone.encoder, check_fn=lambda m: isinstance(m, layer),
                                   checkpoint_wrapper_fn=partial(checkpoint_wrapper,
                                                                 checkpoint_impl=CheckpointImpl.NO_REENTRANT))


def freeze(net: nn.Module, prefixes: Sequence[str]) -> None:
    """No gradient for the parameters whose names start with one of ``prefixes``; a prefix that
    matches none is an error listing the network's top-level names."""
    names = [n for n, _ in net.named_parameters()]
    for prefix in prefixes:
        hit = [n for n in names if n.startswith(prefix)]
        if not hit:
            tops = sorted({n.split(".")[0] for n in names} | {".".join(n.split(".")[:2]) for n in names})
            raise ConfigError(f"model.freeze: {prefix!r} matches no parameter of the network (e.g. {tops[:8]})")
    for name, p in net.named_parameters():
        if any(name.startswith(prefix) for prefix in prefixes):
            p.requires_grad_(False)
