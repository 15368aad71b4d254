import pytest

from ocrlab.metrics import TextMetrics, line_cer, score_texts


def test_known_values():
    preds = ["abcd", "xyz", "สวัสดี ครับ"]
    refs = ["abce", "xyz", "สวัสดี ค่ะ"]
    m = score_texts(preds, refs, prefix="test/")
    # char edits: 1 + 0 + 3 (ร->่ , ั->ะ, บ deleted) over 4 + 3 + 10 reference chars
    assert m["test/cer"] == pytest.approx(4 / 17, abs=1e-6)
    assert m["test/acc"] == pytest.approx(1 / 3)
    # words: abcd/abce 1 of 1, xyz 0 of 1, (สวัสดี ok, ครับ/ค่ะ) 1 of 2 -> 2/4
    assert m["test/wer"] == pytest.approx(2 / 4)
    assert m["test/ned"] == pytest.approx((1 / 4 + 0 + 3 / 11) / 3, abs=1e-6)


def test_metrics_normalize_both_sides():
    # Tesseract-style SARA AM and extra spaces are not errors
    m = score_texts(["น\u0e4d\u0e32  ตาล "], ["น\u0e33 ตาล"])
    assert m["test/cer"] == 0.0 and m["test/acc"] == 1.0


def test_accumulates_over_batches():
    tm = TextMetrics(prefix="val/")
    tm.update(["a"], ["a"])
    tm.update(["b"], ["c"])
    out = {k: float(v) for k, v in tm.compute().items()}
    assert out["val/acc"] == 0.5 and out["val/cer"] == 0.5


def test_line_cer():
    assert line_cer("abc", "abd") == pytest.approx(1 / 3)
    assert line_cer("", "") == 0.0
    assert line_cer("x", "") == 1.0


def test_mark_errors_brackets_what_differs():
    from ocrlab.metrics import mark_errors

    assert mark_errors("abc", "abc") == "abc"
    assert mark_errors("abx", "abc") == "ab[x]"  # a wrong character
    assert mark_errors("ab", "abc") == "ab[-c]"  # a missing one
    assert mark_errors("aXbc", "abc") == "a[X]bc"  # an extra one


def test_cer_by_length_weights_by_characters():
    from ocrlab.metrics import cer_by_length

    preds = ["abcd", "xbcd", "a" * 12, "b" * 30]
    refs = ["abcd", "abcd", "a" * 11 + "b", "b" * 25]
    rows = cer_by_length(preds, refs, edges=(10, 20))
    assert rows == [{"length": "1-10", "lines": 2, "cer": 1 / 8}, {"length": "11-20", "lines": 1, "cer": 1 / 12},
                    {"length": ">20", "lines": 1, "cer": 5 / 25}]
