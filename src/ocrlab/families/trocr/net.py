"""TrOCR networks: transformers' ``VisionEncoderDecoderModel`` (a ViT or DeiT encoder, a
``TrOCRForCausalLM`` decoder), built from config or loaded from a local directory, and saved as a
plain Hugging Face directory with its processor (``TrOCRProcessor``: a ``ViTImageProcessor`` that
stretches a line to the encoder's image size, and the tokenizer).

Config (``model.net``): ``encoder`` holds the vision config's settings plus ``type`` (``vit`` or
``deit``): ``image_size: [height, width]`` (a text line need not be square) and ``patch_size``
(an int or ``[height, width]``); ``decoder`` holds ``TrOCRConfig`` settings. The vocabulary size
and special-token ids come from the tokenizer.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from ocrlab.errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)

ENCODER_TYPES = ("vit", "deit")
# config keys that describe a saved file rather than the architecture
_NOT_ARCHITECTURE = ("transformers_version", "architectures", "model_type", "_name_or_path", "torch_dtype", "dtype",
                     "id2label", "label2id", "_attn_implementation_autoset", "output_attentions",
                     "output_hidden_states", "return_dict", "use_return_dict")


def _encoder_config(settings: dict):
    from transformers import DeiTConfig, ViTConfig

    settings = dict(settings)
    kind = settings.pop("type", "vit")
    if kind not in ENCODER_TYPES:
        raise ConfigError(f"model.net.encoder.type={kind!r}: expected one of {ENCODER_TYPES}")
    for key in ("image_size", "patch_size"):
        if isinstance(settings.get(key), (list, tuple)):
            settings[key] = [int(v) for v in settings[key]]
    cls = ViTConfig if kind == "vit" else DeiTConfig
    return cls(**settings)


def plain(value: Any) -> Any:
    """A config value as plain Python (Hydra hands nested entries over as ``DictConfig``/``ListConfig``)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def build_network(encoder: dict, decoder: dict, tokenizer) -> Any:
    """A randomly initialised ``VisionEncoderDecoderModel`` for ``tokenizer`` (a ``TrOCRTokenizer``)."""
    from transformers import TrOCRConfig, VisionEncoderDecoderConfig, VisionEncoderDecoderModel

    encoder, decoder = plain(encoder), plain(decoder)
    ids = tokenizer.ids
    dec = TrOCRConfig(**{**dict(decoder), "vocab_size": len(tokenizer), "pad_token_id": ids["pad"],
                         "bos_token_id": ids["bos"], "eos_token_id": ids["eos"],
                         "decoder_start_token_id": ids["bos"]})
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(_encoder_config(encoder), dec)
    model = VisionEncoderDecoderModel(config=config)
    _set_special_ids(model, ids)
    return model


def _set_special_ids(model, ids: dict[str, int]) -> None:
    """The ids ``generate`` and the label shift read (the top config and the generation config)."""
    for cfg in (model.config, model.generation_config):
        cfg.decoder_start_token_id, cfg.pad_token_id, cfg.eos_token_id = ids["bos"], ids["pad"], ids["eos"]
    model.generation_config.bos_token_id = ids["bos"]


def load_pretrained(directory: str | Path) -> Any:
    """A ``VisionEncoderDecoderModel`` from a local directory (never a hub name)."""
    from transformers import VisionEncoderDecoderModel

    path = Path(directory)
    if not (path / "config.json").is_file():
        what = "has no config.json" if path.is_dir() else "does not exist"
        raise ConfigError(f"model.pretrained: local model directory {path} {what} (a local directory saved by "
                          "save_pretrained is required: no model hub is contacted)")
    try:
        model = VisionEncoderDecoderModel.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)
    except Exception as e:
        raise CheckpointError(f"{path}: not a VisionEncoderDecoderModel directory: {e}") from e
    return model.train()


def architecture(model) -> dict[str, dict]:
    """``{"encoder": ..., "decoder": ...}``: the settings that rebuild ``model``'s shapes
    (:func:`build_network`) without the directory it was loaded from."""
    enc = {k: v for k, v in model.config.encoder.to_dict().items() if k not in _NOT_ARCHITECTURE}
    enc["type"] = model.config.encoder.model_type
    dec = {k: v for k, v in model.config.decoder.to_dict().items()
           if k not in _NOT_ARCHITECTURE and k not in ("vocab_size", "pad_token_id", "bos_token_id", "eos_token_id",
                                                        "decoder_start_token_id")}
    return {"encoder": _plain(enc), "decoder": _plain(dec)}


def _plain(d: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items() if not isinstance(v, dict) or v}


def image_size(model) -> tuple[int, int]:
    """(height, width) of the encoder's input."""
    size = model.config.encoder.image_size
    return (int(size[0]), int(size[1])) if isinstance(size, (list, tuple)) else (int(size), int(size))


def encoder_width(model) -> int:
    return int(model.config.encoder.hidden_size)


def patch_columns(model, states):
    """The encoder's patch states ``(batch, tokens, width)`` as columns ``(batch, columns, width)``,
    left to right: the class (and DeiT's distillation) tokens dropped, each column's rows averaged
    (a line image of one patch row gives its patches as they are)."""
    height, width = image_size(model)
    patch = model.config.encoder.patch_size
    ph, pw = (int(patch[0]), int(patch[1])) if isinstance(patch, (list, tuple)) else (int(patch), int(patch))
    rows, cols = height // ph, width // pw
    patches = states[:, states.shape[1] - rows * cols:]
    return patches.unflatten(1, (rows, cols)).mean(1)


def encoder_layers(model):
    """The ViT/DeiT blocks (transformers 5: ``encoder.layers``; earlier ``encoder.encoder.layer``)."""
    enc = model.encoder
    return enc.layers if hasattr(enc, "layers") else enc.encoder.layer


def decoder_layers(model):
    return model.decoder.model.decoder.layers


def processor_for(tokenizer, size: tuple[int, int]):
    """The ``TrOCRProcessor`` of a model: stretch to ``size`` (bilinear), scale to [-1, 1] as
    :func:`ocrlab.datamodules.line_images.image_to_tensor` does, and the tokenizer."""
    from transformers import TrOCRProcessor, ViTImageProcessor

    images = ViTImageProcessor(do_resize=True, size={"height": size[0], "width": size[1]}, resample=2,
                               do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
                               image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    return TrOCRProcessor(image_processor=images, tokenizer=tokenizer)


def save_pretrained(model, tokenizer, directory: str | Path) -> Path:
    """A plain transformers directory: ``VisionEncoderDecoderModel.from_pretrained`` and
    ``AutoProcessor.from_pretrained`` load it with no ocrlab import."""
    directory = Path(directory)
    model.save_pretrained(str(directory))
    processor_for(tokenizer, image_size(model)).save_pretrained(str(directory))
    return directory


_LAYER = re.compile(r"^(encoder\.layers|encoder\.encoder\.layer|decoder\.model\.decoder\.layers)\.(\d+)\.")


def spread_layers(teacher: int, student: int) -> list[int]:
    """Which teacher layers a ``student``-layer stack copies: evenly spread, first and last kept
    (DistilBART's shrink: 12 -> 6 copies 0, 2, 4, 7, 9, 11)."""
    if not 1 <= student <= teacher:
        raise ConfigError(f"a student of {student} layers cannot be copied from a teacher of {teacher}")
    if student == 1:
        return [0]
    return [round(i * (teacher - 1) / (student - 1)) for i in range(student)]


def copy_from_teacher(student, teacher) -> dict[str, list[int]]:
    """Copy every weight of ``teacher`` into ``student`` (same widths, fewer layers), layer ``i``
    of each stack from the teacher layer :func:`spread_layers` gives. Returns the mapping."""
    maps = {"encoder": spread_layers(len(encoder_layers(teacher)), len(encoder_layers(student))),
            "decoder": spread_layers(len(decoder_layers(teacher)), len(decoder_layers(student)))}
    source = teacher.state_dict()
    target = student.state_dict()
    for key in target:
        match = _LAYER.match(key)
        src = key
        if match:
            stack = "decoder" if match.group(1).startswith("decoder") else "encoder"
            src = f"{match.group(1)}.{maps[stack][int(match.group(2))]}.{key[match.end():]}"
        if src not in source or source[src].shape != target[key].shape:
            raise ConfigError(f"model.student.init=from_teacher: the teacher has no weight {src} of shape "
                              f"{tuple(target[key].shape)} for the student's {key}")
        target[key] = source[src].detach().clone()
    student.load_state_dict(target)
    log.info("student initialised from the teacher: encoder layers %s, decoder layers %s", maps["encoder"],
             maps["decoder"])
    return maps
