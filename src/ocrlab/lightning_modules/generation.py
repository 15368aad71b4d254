"""The base of models that answer by generating text (PaddleOCR-VL now, TrOCR next).

What every sequence-generating family shares: greedy batched generation from a left-padded batch
with the KV cache, ``max_new_tokens``, the repetition guard (:class:`RepeatStop`), decoding with the
model's own tokenizer, and the generation speed (tokens and seconds since the last reset). A family
says how a batch becomes the network's generation inputs (:meth:`generation_inputs`) and which
tokenizer decodes (:meth:`generation_tokenizer`); it scores the texts its own way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from ocrlab.errors import ConfigError
from ocrlab.lightning_modules.base import OcrModule

# repeat_stop: stop a sequence once a block of up to 8 tokens has repeated this many times in a row
# at its end (a loop: the common failure of fine-tuned generative models); unlike repetition_penalty
# it never alters an answer that does not loop (JSON repeats quotes, commas and digits all the time)
DEFAULT_GENERATION = {"max_new_tokens": 512, "repeat_stop": 6, "repetition_penalty": 1.0,
                      "no_repeat_ngram_size": 0}
# transformers' generate() settings a config may add
OPTIONAL_GENERATION = ("num_beams", "length_penalty")


class RepeatStop:
    """A stopping criterion: a sequence is done once its generated tail is one block of 1..8
    tokens repeated ``times`` times in a row."""

    def __init__(self, times: int, prompt_length: int, max_block: int = 8):
        if times < 2:
            raise ConfigError(f"model.generation.repeat_stop={times}: expected >= 2 (or 0: off)")
        self.times, self.prompt_length, self.max_block = int(times), int(prompt_length), max_block

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
        generated = input_ids[:, self.prompt_length:]
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for block in range(1, self.max_block + 1):
            span = block * self.times
            if generated.shape[1] < span:
                break
            tail = generated[:, -span:].reshape(input_ids.shape[0], self.times, block)
            done |= (tail == tail[:, :1]).all(dim=2).all(dim=1)
        return done


def generation_settings(generation: dict | None) -> dict[str, Any]:
    """The ``model.generation`` config checked and completed with :data:`DEFAULT_GENERATION`."""
    generation = dict(generation or {})
    unknown = sorted(set(generation) - set(DEFAULT_GENERATION) - set(OPTIONAL_GENERATION))
    if unknown:
        raise ConfigError(f"model.generation: unknown key(s) {unknown}; expected "
                          f"{sorted([*DEFAULT_GENERATION, *OPTIONAL_GENERATION])}")
    if generation.get("repeat_stop"):
        RepeatStop(generation["repeat_stop"], 0)  # a bad value fails now, not at the first validation
    return {**DEFAULT_GENERATION, **generation}


class GenerativeModule(OcrModule):
    """``generate_texts(batch)``: the answers of a batch; ``generated_tokens_per_s``: the speed of
    the generation since :meth:`reset_generation_speed`. The network is ``self.net`` (a transformers
    model with ``generate``; under FSDP2 ``generate`` gathers like ``__call__``)."""

    fsdp_forward_methods = ("generate",)

    def __init__(self, optimizer: Callable[..., torch.optim.Optimizer], scheduler: Callable[..., Any] | None = None,
                 generation: dict | None = None):
        super().__init__(optimizer, scheduler)
        self.generation = generation_settings(generation)
        self.reset_generation_speed()

    # -- what a family provides ------------------------------------------------------------------
    def generation_inputs(self, batch: dict) -> dict[str, torch.Tensor]:
        """The network's ``generate`` inputs of a (left-padded) batch."""
        raise NotImplementedError

    def generation_tokenizer(self):
        """The tokenizer that decodes the generated ids (the model's own label space)."""
        raise NotImplementedError

    def generation_config(self):
        """The network's ``GenerationConfig`` (its eos and pad ids count the generated tokens)."""
        return self.net.generation_config

    # -- shared ----------------------------------------------------------------------------------
    @torch.no_grad()
    def generate_texts(self, batch: dict) -> list[str]:
        """Greedy answers of a batch (KV cache; ``generation`` settings; repetition guard)."""
        from transformers import StoppingCriteriaList

        inputs = self.generation_inputs(batch)
        prompt = inputs["input_ids"].shape[1] if "input_ids" in inputs else 1  # encoder-decoders start at 1
        settings = {k: v for k, v in self.generation.items() if v and k != "repeat_stop"}  # 0 / None: off
        if settings.get("repetition_penalty") == 1.0:
            settings.pop("repetition_penalty")
        stops = StoppingCriteriaList([RepeatStop(self.generation["repeat_stop"], prompt)]
                                     if self.generation.get("repeat_stop") else [])
        start = time.perf_counter()
        out = self.net.generate(**inputs, do_sample=False, use_cache=True, stopping_criteria=stops, **settings)
        new = out[:, prompt:]
        self.generation_seconds += time.perf_counter() - start
        config = self.generation_config()
        self.generated_tokens += int(((new != config.pad_token_id) & (new != config.eos_token_id)).sum())
        return self.generation_tokenizer().batch_decode(new, skip_special_tokens=True)

    def reset_generation_speed(self) -> None:
        self.generation_seconds, self.generated_tokens = 0.0, 0
