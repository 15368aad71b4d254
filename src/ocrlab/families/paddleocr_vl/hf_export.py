"""PaddleOCR-VL exports: Hugging Face directories beside ``ocrlab_model.json``.

With LoRA the PEFT adapter (``adapter/``; the base is the ``pretrained`` directory, and a model
built from a config has its base written too, ``model/``); without LoRA or with ``merge`` the full
model (``model/``: a plain transformers directory that ``from_pretrained`` loads)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ocrlab.errors import CheckpointError
from ocrlab.model_files import EXPORT_META
from ocrlab.utils.io import atomic_write_json

ADAPTER_DIR, MODEL_DIR = "adapter", "model"


def export_hf(module, directory: Path, merge: bool) -> Path:
    """Write ``module`` (a ``PaddleOCRVL``) into ``directory``."""
    import ocrlab.families.paddleocr_vl.net as vl
    from ocrlab.families.paddleocr_vl.lora import merge_lora, save_adapter

    processor = module.processor.get()
    layout: dict[str, Any] = {"merged": bool(merge or not module.lora)}
    if module.lora and not merge:
        save_adapter(module.net, directory / ADAPTER_DIR)
        processor.save_pretrained(str(directory / ADAPTER_DIR))
        layout["adapter"] = ADAPTER_DIR
        if module.pretrained is None:  # no directory to name as the base: write it (without the
            # LoRA layers peft injected into it, which a plain from_pretrained would not read)
            vl.save_pretrained(copy.deepcopy(module.net).unload(), processor, directory / MODEL_DIR)
            layout["base"] = MODEL_DIR
    else:
        model = merge_lora(copy.deepcopy(module.net)) if module.lora else module.net
        vl.save_pretrained(model, processor, directory / MODEL_DIR)
        layout["model"] = MODEL_DIR
    atomic_write_json(directory / EXPORT_META, {**module.checkpoint_metadata(), "export": layout})
    return directory


def load_hf_export(directory: Path, meta: dict, default_lora: dict):
    """The module :func:`export_hf` wrote: the merged model, or base + adapter."""
    from ocrlab.families.paddleocr_vl.lora import load_adapter
    from ocrlab.loading import build_model

    layout = meta.get("export") or {}
    config = dict(meta["model_config"])
    config.pop("processor", None)  # the model directory brings its processor
    if layout.get("model"):  # a full model directory: no adapters left
        config.update(pretrained=str(directory / layout["model"]), lora=None)
        return build_model(config)
    adapter = directory / layout.get("adapter", ADAPTER_DIR)
    base = str(directory / layout["base"]) if layout.get("base") else config.get("pretrained")
    if base is None:
        raise CheckpointError(f"{directory}: an adapter export without a base model")
    config.update(pretrained=base, lora=None)
    module = build_model(config)
    module.net = load_adapter(module.net, adapter)
    module.lora = {**default_lora, **(meta["model_config"].get("lora") or {})}
    module.model_config = {**module.model_config, "lora": meta["model_config"].get("lora")}
    return module
