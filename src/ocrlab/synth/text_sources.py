"""Text for synthetic Thai financial/business lines.

:class:`ThaiLineTextSampler` builds a line from tokens drawn from a weighted mixture of kinds
(:data:`TOKEN_KINDS`): Thai dictionary words (``pythainlp.corpus.thai_words()``, 62k words,
CC0) and business terms, numbers, dates in Thai and Gregorian forms, amounts, document codes,
short Latin words, Thai-digit numbers, punctuation, and the names, addresses and company names
documents hold (``faker``'s ``th_TH`` and ``en_US`` providers, reseeded from the line's generator). Every line is normalized
(:func:`normalize_text`) and inside :meth:`Charset.thai`; its length in code points (marks
count) lies in ``[min_chars, max_chars]``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import numpy as np

from ocrlab.text.charset import Charset
from ocrlab.text.normalize import normalize_text

# fmt: off
BUSINESS_TERMS = (
    "ใบกำกับภาษี", "ใบเสร็จรับเงิน", "ใบแจ้งหนี้", "ใบสั่งซื้อ", "ใบเสนอราคา", "ใบส่งของ",
    "ยอดรวม", "ยอดรวมทั้งสิ้น", "ภาษีมูลค่าเพิ่ม", "ภาษีหัก ณ ที่จ่าย", "ส่วนลด", "จำนวนเงิน",
    "ราคาต่อหน่วย", "จำนวน", "หน่วย", "รายการ", "ผู้ซื้อ", "ผู้ขาย", "ผู้รับเงิน", "ผู้มีอำนาจลงนาม",
    "สาขา", "สำนักงานใหญ่", "เลขประจำตัวผู้เสียภาษี", "ที่อยู่", "โทร.", "โทรสาร", "อีเมล",
    "วันที่", "เลขที่", "ครบกำหนดชำระ", "เงื่อนไขการชำระเงิน", "เงินสด", "เช็ค", "โอนเงิน",
    "ธนาคาร", "บัญชีเลขที่", "บริษัท", "จำกัด", "(มหาชน)", "บจก.", "บมจ.", "หจก.", "ห้างหุ้นส่วน",
    "ต.", "อ.", "จ.", "แขวง", "เขต", "กรุงเทพมหานคร", "รหัสไปรษณีย์", "หมายเหตุ", "ลงชื่อ",
    "รวมเงิน", "คงเหลือ", "ค่าบริการ", "ค่าขนส่ง", "มัดจำ", "งวดที่", "หน้า",
)
LATIN_WORDS = (
    "Invoice", "Tax", "VAT", "Total", "Subtotal", "Amount", "Qty", "Unit", "Price", "Date", "No.",
    "Ref.", "Page", "Due", "Paid", "Balance", "Discount", "Bank", "Account", "Branch", "Co.,",
    "Ltd.", "PLC", "Receipt", "Order", "Item", "Code", "Net", "Gross", "Tel.", "Fax", "Email",
    "Bangkok", "Thailand", "Customer", "Supplier", "Payment", "Cash", "Transfer", "Credit",
    "Debit", "Memo", "Note", "Signature", "THB", "USD", "EUR", "JPY", "kg", "pcs", "SKU",
)
THAI_MONTHS = (
    "มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน",
    "กรกฎาคม", "สิงหาคม", "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม",
)
THAI_MONTHS_SHORT = (
    "ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.",
)
LATIN_MONTHS_SHORT = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
CURRENCY_CODES = ("USD", "EUR", "JPY", "THB", "SGD", "CNY", "GBP")
CODE_PREFIXES = ("INV", "PO", "QT", "RC", "DN", "CN", "SO", "REF", "TX", "BL")
PUNCTUATION = (":", "-", "/", "(", ")", ",", ".", "*", "#", "%", "&", "\"", "'", "+", "=", "@", "_", "|")
# fmt: on
BUDDHIST_ERA_OFFSET = 543
_THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")

DEFAULT_WEIGHTS: dict[str, float] = {
    "thai_words": 0.40,
    "business_term": 0.10,
    "integer": 0.07,
    "decimal": 0.05,
    "date": 0.08,
    "amount": 0.10,
    "code": 0.08,
    "latin_word": 0.06,
    "thai_digits": 0.02,
    "punctuation": 0.04,
    "person_name": 0.04,
    "address": 0.04,
    "company": 0.03,
}
TOKEN_KINDS: tuple[str, ...] = tuple(DEFAULT_WEIGHTS)
T = TypeVar("T")


@functools.lru_cache(maxsize=1)
def thai_word_list() -> tuple[str, ...]:
    """pythainlp's Thai words that are single normalized tokens inside the charset, sorted.

    Sorted because ``thai_words()`` is a frozenset, whose order changes with hash
    randomization between processes: indexing it would break reproducibility.
    """
    from pythainlp.corpus import thai_words

    charset = Charset.thai()
    return tuple(
        sorted(
            w
            for w in thai_words()
            if w == normalize_text(w) and " " not in w and not charset.unknown_chars(w)
        )
    )


class ThaiLineTextSampler:
    """Draws single text lines; ``sample(rng)`` depends only on the generator's state."""

    def __init__(self, min_chars: int = 5, max_chars: int = 40, weights: Mapping[str, float] | None = None):
        if not (isinstance(min_chars, int) and isinstance(max_chars, int) and 1 <= min_chars <= max_chars):
            raise ValueError(f"need integers 1 <= min_chars <= max_chars, got {min_chars}, {max_chars}")
        self.min_chars = min_chars
        self.max_chars = max_chars
        self.weights = self.resolve_weights(weights)
        self._kinds = [k for k, w in self.weights.items() if w > 0]
        total = sum(self.weights[k] for k in self._kinds)
        self._probs = np.array([self.weights[k] / total for k in self._kinds])
        self._words = thai_word_list()
        self._charset = Charset.thai()
        self._makers: dict[str, Callable[[np.random.Generator], str]] = {
            kind: getattr(self, "_" + kind) for kind in TOKEN_KINDS
        }

    @staticmethod
    def resolve_weights(weights: Mapping[str, float] | None) -> dict[str, float]:
        """Defaults overridden by ``weights``; unknown kinds and negative weights raise."""
        resolved = dict(DEFAULT_WEIGHTS)
        for kind, weight in (weights or {}).items():
            if kind not in DEFAULT_WEIGHTS:
                raise ValueError(f"unknown text token kind {kind!r}; allowed kinds: {list(TOKEN_KINDS)}")
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
                raise ValueError(f"text weight {kind}={weight!r} must be a number >= 0")
            resolved[kind] = float(weight)
        if not any(resolved.values()):
            raise ValueError("text weights are all zero: nothing to sample")
        return resolved

    def sample(self, rng: np.random.Generator) -> str:
        target = int(rng.integers(self.min_chars, self.max_chars + 1))
        line = ""
        dead_ends = 0
        while len(line) < target:
            token = self._token(rng)
            # Thai runs are written without spaces between words; join Thai to Thai half the time.
            glue = (
                "" if not line or (_is_thai(line[-1]) and _is_thai(token[0]) and rng.random() < 0.5) else " "
            )
            candidate = line + glue + token
            if len(candidate) > self.max_chars:
                if len(line) >= self.min_chars:
                    break  # end the line on a whole token rather than cut one
                candidate = _truncate(candidate, self.max_chars)
            if len(candidate) <= len(line):  # not one character of the token fits
                if len(line) >= self.min_chars:
                    break
                dead_ends += 1
                if dead_ends == 100:  # e.g. min_chars == max_chars and only spaced tokens: start over
                    line, dead_ends = "", 0
                continue
            line = candidate
        line = normalize_text(line)
        if not self.min_chars <= len(line) <= self.max_chars or self._charset.unknown_chars(line):
            raise AssertionError(f"sampler produced an invalid label {line!r}")
        return line

    def _token(self, rng: np.random.Generator) -> str:
        kind = self._kinds[int(rng.choice(len(self._kinds), p=self._probs))]
        token = self._makers[kind](rng)
        # faker's words may hold characters outside the charset (other scripts, typographic marks)
        return token if not self._charset.unknown_chars(token) else self._thai_words(rng)

    # -- token makers ---------------------------------------------------------------------
    def _thai_words(self, rng: np.random.Generator) -> str:
        count = int(rng.integers(1, 4))
        return "".join(self._words[int(i)] for i in rng.integers(len(self._words), size=count))

    def _business_term(self, rng: np.random.Generator) -> str:
        return _pick(rng, BUSINESS_TERMS)

    def _integer(self, rng: np.random.Generator) -> str:
        value = int(10 ** rng.uniform(0, 7))
        return f"{value:,}" if rng.random() < 0.5 else str(value)

    def _decimal(self, rng: np.random.Generator) -> str:
        forms = (
            lambda: f"{rng.uniform(0, 100_000):,.2f}",
            lambda: f"{rng.uniform(0, 100):.{int(rng.integers(1, 4))}f}",
            lambda: f"{int(rng.choice([3, 5, 7, 10, 15]))}%",  # VAT and withholding rates
        )
        return _pick(rng, forms)()

    def _date(self, rng: np.random.Generator) -> str:
        day, month = int(rng.integers(1, 29)), int(rng.integers(1, 13))
        year = int(rng.integers(2015, 2031))
        be = year + BUDDHIST_ERA_OFFSET
        forms = (
            f"{day} {THAI_MONTHS[month - 1]} {be}",
            f"{day} {THAI_MONTHS_SHORT[month - 1]} {be % 100:02d}",
            f"{day} {THAI_MONTHS_SHORT[month - 1]} {be}",
            f"{day:02d}/{month:02d}/{year}",
            f"{day:02d}/{month:02d}/{be}",
            f"{year}-{month:02d}-{day:02d}",
            f"พ.ศ. {be}",
            f"ค.ศ. {year}",
            f"วันที่ {day} {THAI_MONTHS[month - 1]} พ.ศ. {be}",
            f"{day:02d}-{LATIN_MONTHS_SHORT[month - 1]}-{year}",
        )
        return _pick(rng, forms)

    def _amount(self, rng: np.random.Generator) -> str:
        value = round(float(10 ** rng.uniform(0, 7)), 2)
        number = f"{value:,.2f}"

        def in_words() -> str:  # as written on cheques and receipts
            from pythainlp.util import bahttext

            return f"({bahttext(value)})"

        forms = (
            lambda: f"฿{number}",
            lambda: f"{number} บาท",
            lambda: f"{_pick(rng, CURRENCY_CODES)} {number}",
            lambda: f"-{number}" if rng.random() < 0.5 else f"({number})",
            lambda: f"{number} THB",
            in_words,
        )
        return _pick(rng, forms)()

    def _code(self, rng: np.random.Generator) -> str:
        forms = (
            lambda: f"{_pick(rng, CODE_PREFIXES)}-{int(rng.integers(2015, 2031))}-{int(rng.integers(0, 100000)):05d}",
            lambda: f"{_pick(rng, CODE_PREFIXES)}#{int(rng.integers(100, 100000))}",
            lambda: self._tax_id(rng),
            lambda: self._letters_and_digits(rng),
            # phone number
            lambda: f"0{int(rng.integers(2, 10))}-{int(rng.integers(0, 1000)):03d}-{int(rng.integers(0, 10000)):04d}",
            lambda: f"{_pick(rng, CODE_PREFIXES)}{int(rng.integers(0, 10**7)):07d}",
        )
        return _pick(rng, forms)()

    @staticmethod
    def _tax_id(rng: np.random.Generator) -> str:
        """13-digit Thai tax id, plain or grouped 1-4-5-2-1."""
        digits = "".join(str(d) for d in rng.integers(0, 10, size=13))
        if rng.random() < 0.5:
            return digits
        return f"{digits[0]}-{digits[1:5]}-{digits[5:10]}-{digits[10:12]}-{digits[12]}"

    @staticmethod
    def _letters_and_digits(rng: np.random.Generator) -> str:
        letters = "".join(chr(ord("A") + int(i)) for i in rng.integers(0, 26, size=int(rng.integers(2, 4))))
        return f"{letters}{int(rng.integers(0, 10**6)):06d}"

    def _latin_word(self, rng: np.random.Generator) -> str:
        word = _pick(rng, LATIN_WORDS)
        return word.upper() if rng.random() < 0.15 else word

    def _thai_digits(self, rng: np.random.Generator) -> str:
        maker = _pick(rng, (self._integer, self._date, self._decimal))
        return maker(rng).translate(_THAI_DIGITS)

    def _punctuation(self, rng: np.random.Generator) -> str:
        return _pick(rng, PUNCTUATION)

    def _person_name(self, rng: np.random.Generator) -> str:
        if rng.random() < 0.2:  # Latin names on Thai documents: foreign customers, signatories
            return self._faker("en_US", rng).name()
        title = _pick(rng, ("", "", "นาย", "นาง", "นางสาว", "คุณ"))
        return title + self._faker("th_TH", rng).name()

    def _address(self, rng: np.random.Generator) -> str:
        # One printed line of a multi-line address: the street part or the district/province part.
        lines = self._faker("th_TH", rng).address().splitlines()
        return " ".join(lines) if rng.random() < 0.5 else _pick(rng, lines)

    def _company(self, rng: np.random.Generator) -> str:
        return self._faker("th_TH", rng).company()

    def _faker(self, locale: str, rng: np.random.Generator):
        from ocrlab.synth.sampling import faker_for

        fake = faker_for(locale)
        fake.seed_instance(int(rng.integers(2**31)))
        return fake


def _pick(rng: np.random.Generator, options: Sequence[T]) -> T:
    return options[int(rng.integers(len(options)))]


def _truncate(text: str, limit: int) -> str:
    """At most ``limit`` code points, cut where no mark is orphaned and no leading vowel dangles."""
    cut = min(limit, len(text))
    while cut > 0 and (
        (cut < len(text) and _is_combining_thai(text[cut])) or _is_leading_vowel(text[cut - 1])
    ):
        cut -= 1
    return text[:cut].rstrip()


def _is_thai(ch: str) -> bool:
    return "\u0e01" <= ch <= "\u0e5b"


def _is_combining_thai(ch: str) -> bool:
    # Above/below vowels and tone marks attach to the preceding consonant.
    return ch == "\u0e31" or "\u0e34" <= ch <= "\u0e3a" or "\u0e47" <= ch <= "\u0e4e"


def _is_leading_vowel(ch: str) -> bool:
    return "\u0e40" <= ch <= "\u0e44"
