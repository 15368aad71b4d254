"""Training a byte-level BPE (the ``tokenizers`` library) on texts: what a tokenizer learned from
a family's training data starts from (the layout model's word pieces, the vision-language model's
processor)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from ocrlab.errors import ConfigError

log = logging.getLogger(__name__)


def train_byte_level_bpe(texts: Iterable[str], vocab_size: int, min_frequency: int, special_tokens: Sequence[str],
                         unk_token: str, add_prefix_space: bool, what: str):
    """A ``tokenizers.Tokenizer`` (BPE over bytes: any script, exact decode) trained on ``texts``,
    ``special_tokens`` numbered first in their order. ``what`` names the config entry in the error
    an empty training split gives."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=unk_token))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                  special_tokens=list(special_tokens), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    count = 0

    def counted():
        nonlocal count
        for text in texts:
            count += 1
            yield text

    tok.train_from_iterator(counted(), trainer)
    if count == 0:
        raise ConfigError(f"{what}: no texts to train the byte-level BPE on (is the training split empty?)")
    log.info("%s: trained a byte-level BPE on %d texts: %d entries", what, count, tok.get_vocab_size())
    return tok
