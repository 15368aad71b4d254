import math

import pytest
import torch

from ocrlab.families.crnn.ctc import CTCDecoder
from ocrlab.text import Charset, CharsetError, UnknownCharacterError, normalize_text


def test_thai_charset_is_thai_block_plus_printable_ascii():
    cs = Charset.thai()
    assert len(cs) == 87 + 95
    assert cs.num_classes == len(cs) + 1 and cs.blank_index == 0
    for ch in "กฮ฿๐๙ำ่้๊๋ aZ09~":
        assert ch in cs
    assert "\u0e3b" not in cs and "\u0e5c" not in cs  # unassigned code points


@pytest.mark.parametrize("text", ["ผู้ใหญ่", "ปั้น", "กี่", "ฤๅษี", "น้ำ", "฿1,250.00 บาท", "INV-2024 เลขที่ ๑๒๓"])
def test_charset_round_trips_thai_with_stacked_marks(text):
    cs = Charset.thai()
    ids = cs.encode(text)
    assert 0 not in ids and len(ids) == len(text)
    assert cs.decode(ids) == text


def test_unknown_characters_are_named():
    with pytest.raises(UnknownCharacterError, match=r"U\+4E2D") as e:
        Charset.thai().encode("ราคา中", where="labels.txt:3")
    assert "labels.txt:3" in str(e.value)


def test_charset_serialization_and_mismatch():
    cs = Charset.thai()
    again = Charset.from_dict(cs.to_dict())
    assert again == cs and again.fingerprint == cs.fingerprint
    other = Charset(list("abc"))
    with pytest.raises(CharsetError, match="charset mismatch"):
        other.check_same(cs, "resuming")


def test_paddle_dict_and_texts(tmp_path):
    d = tmp_path / "th_dict.txt"
    d.write_text("ก\nข\nค\n", encoding="utf-8")
    cs = Charset.from_paddle_dict(d, use_space_char=True)
    assert cs.symbols == ("ก", "ข", "ค", " ")
    bad = tmp_path / "bad.txt"
    bad.write_text("ก\nขค\n", encoding="utf-8")
    with pytest.raises(CharsetError, match="bad.txt:2"):
        Charset.from_paddle_dict(bad)
    with pytest.raises(CharsetError, match="does not exist"):
        Charset.from_paddle_dict(tmp_path / "nope.txt")
    assert Charset.from_texts(["ba", "ab c"]).symbols == (" ", "a", "b", "c")


def test_charset_rejects_duplicates_and_multichar():
    with pytest.raises(CharsetError, match="twice"):
        Charset(["a", "a"])
    with pytest.raises(CharsetError, match="exactly one character"):
        Charset(["ab"])


def test_normalize_joins_sara_am_and_whitespace():
    assert normalize_text("  น\u0e4d\u0e32  ใจ\t") == "น\u0e33 ใจ"
    assert normalize_text("e\u0301") == "\u00e9"


def _log_probs(paths: list[list[int]], num_classes: int, sharp: float = 10.0) -> torch.Tensor:
    """Log-probabilities that put most mass on the given class per step."""
    t = torch.full((len(paths), len(paths[0]), num_classes), 0.0)
    for b, path in enumerate(paths):
        for step, c in enumerate(path):
            t[b, step, c] = sharp
    return t.log_softmax(-1)


def test_greedy_ctc_collapses_repeats_and_drops_blanks():
    cs = Charset(list("abc"))  # a=1 b=2 c=3
    dec = CTCDecoder(cs)
    lp = _log_probs([[1, 1, 0, 1, 2, 2, 0, 0], [0, 3, 0, 3, 3, 0, 2, 0]], cs.num_classes)
    out = dec(lp)
    assert [d.text for d in out] == ["aab", "ccb"]
    assert all(0.0 < d.confidence <= 1.0 for d in out)
    # lengths cut the padded tail off
    assert dec(lp, torch.tensor([3, 8]))[0].text == "a"


def test_beam_search_sums_paths_that_greedy_misses():
    cs = Charset(list("a"))
    # per step: blank 0.4, 'a' 0.6 at t0; blank 0.6, 'a' 0.4 at t1 -> greedy "a" (path a,-)
    probs = torch.tensor([[[0.4, 0.6], [0.6, 0.4]]])
    greedy = CTCDecoder(cs, "greedy")(probs.log())
    beam = CTCDecoder(cs, "beam", beam_width=4)(probs.log())
    assert greedy[0].text == "a" and beam[0].text == "a"
    # P("a") = .6*.6 + .6*.4 + .4*.4 = 0.76 > P("") = .24; beam confidence reflects the sum
    assert math.isclose(beam[0].confidence, 0.76 ** 0.5, rel_tol=1e-4)
    # a case where summing flips the answer: best single path is blank,blank (.36)
    probs = torch.tensor([[[0.6, 0.4], [0.6, 0.4]]])
    assert CTCDecoder(cs, "greedy")(probs.log())[0].text == ""
    assert CTCDecoder(cs, "beam")(probs.log())[0].text == "a"  # .4*.6+.6*.4+.4*.4 = .64


def test_decoder_rejects_bad_method():
    with pytest.raises(ValueError, match="greedy"):
        CTCDecoder(Charset(list("a")), method="viterbi")
