"""The random values of one business document: parties, SAP-like numbers, org units, items."""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ocrlab.synth.business_docs.formats import Fmt, clean, digits, letters
from ocrlab.synth.sampling import choice, faker_for

_DIGIT_RUN = re.compile(r"\{(\d+)\}")


@dataclass
class Party:
    name: str
    address: list[str]
    tax_id: str
    contact: str
    phone: str
    email: str
    city: str


_UOM = (  # (SAP unit, long form)
    ("PC", "pieces"),
    ("EA", "each"),
    ("KG", "kilogram"),
    ("M", "metre"),
    ("L", "litre"),
    ("BOX", "box"),
    ("PAL", "pallet"),
    ("M2", "square metre"),
    ("M3", "cubic metre"),
    ("ROL", "roll"),
    ("PAK", "pack of 10"),
    ("CAR", "carton"),
    ("ST", "piece"),
)
_SERVICE_UOM = (("H", "hours"), ("AU", "activity unit"), ("DAY", "man day"), ("LE", "lump sum"))
_PARTS = (
    ("Hex bolt", ("M8x40 DIN 933 A2", "M10x60 8.8 zinc plated", "M6x20 ISO 4017")),
    ("Ball bearing", ("6204-2RS", "6306 ZZ C3", "SKF 6205")),
    ("Steel sheet", ("2 mm S235JR", "1.5 mm DC01 1000x2000", "3 mm 1.4301")),
    ("Hydraulic hose", ("1/2 in 2 m", "DN10 350 bar", "3/8 in 1.5 m")),
    ("Cable tie", ("200x4.8 mm black", "300x7.6 mm UV resistant")),
    ("Copper cable", ("NYM-J 3x1.5 mm2", "H07V-K 6 mm2 blue")),
    ("Pallet wrap film", ("500 mm 23 my", "transparent 450 mm")),
    ("Safety gloves", ("size 9 EN 388", "nitrile size L")),
    ("Gear motor", ("0.75 kW 230/400 V", "1.1 kW IE3")),
    ("Printed circuit board", ("rev C 4-layer", "controller v2.1")),
    ("Aluminium profile", ("40x40 slot 8", "30x60 anodized 6 m")),
    ("Industrial adhesive", ("2K epoxy 50 ml", "cyanoacrylate 20 g")),
    ("Corrugated box", ("600x400x300 mm", "double wall 40x30x20")),
    ("Pneumatic valve", ("5/2-way G1/4", "3/2-way 24 V DC")),
    ("Office paper", ("A4 80 g/m2 white", "Letter 20 lb")),
    ("Lubricating oil", ("ISO VG 46 20 L", "SAE 10W-40 5 L")),
    ("Polypropylene granulate", ("PP H 25 kg bag", "natural MFI 12")),
    ("Toner cartridge", ("black HP 59A", "cyan high yield")),
)
_SERVICES = (
    "Maintenance service compressor",
    "Consulting services SAP MM",
    "Calibration of measuring equipment",
    "Installation and commissioning",
    "Cleaning services production hall",
    "Software licence renewal",
    "Freight forwarding charges",
    "Training course forklift safety",
    "Inspection of pressure vessels",
    "IT support monthly fee",
    "Engineering services design review",
    "Waste disposal container exchange",
)


class Content:
    """Random values of one document: a per-sample Faker, the format, SAP-like numbers."""

    def __init__(self, rng: np.random.Generator, locale: str, *, dense: bool = False):
        self.rng = rng
        self.locale = locale
        self.dense = dense  # small fonts / dense layout: more lines on the page
        self.fake = faker_for(locale)
        self.fake.seed_instance(int(rng.integers(2**31)))
        self.fmt = Fmt.draw(rng, locale)
        self.today = dt.date(2019, 1, 1) + dt.timedelta(days=int(rng.integers(0, 6 * 365)))

    def filler(self, sentences: int) -> str:
        """Running text: English words for the en locales (en_GB's Faker lorem is Latin)."""
        fake = faker_for("de_DE" if self.locale == "de_DE" else "en_US")
        fake.seed_instance(int(self.rng.integers(2**31)))
        return clean(fake.paragraph(nb_sentences=sentences))

    def p(self, probability: float) -> bool:
        return bool(self.rng.random() < probability)

    def pick(self, seq: Sequence[Any]) -> Any:
        return choice(self.rng, seq)

    def cap(self, options: str) -> str:
        """One of the ``|``-separated caption spellings."""
        return self.pick(options.split("|"))

    def signer(self, captions: str, titles: Sequence[str]) -> tuple[str, str, str]:
        """A signature: (caption, drawn from ``captions``, or "" if empty; a name; a title)."""
        return (self.cap(captions) if captions else "", clean(self.fake.name()), self.pick(titles))

    def date(self, offset_lo: int = 0, offset_hi: int = 0) -> dt.date:
        return self.today + dt.timedelta(days=int(self.rng.integers(offset_lo, offset_hi + 1)))

    def ds(self, offset_lo: int = 0, offset_hi: int = 0) -> str:
        return self.fmt.date(self.date(offset_lo, offset_hi))

    def party(self) -> Party:
        f = self.fake
        name = clean(f.company())
        street = clean(f.street_address())
        city = clean(f.city())
        if self.locale == "de_DE":
            lines = [street, f"{f.postcode()} {city}"]
            tax = "DE" + digits(self.rng, 9)
            tax = tax if self.p(0.6) else f"DE {tax[2:5]} {tax[5:8]} {tax[8:]}"
        elif self.locale == "en_GB":
            lines = [street, city, clean(f.postcode())]
            tax = "GB" + digits(self.rng, 9)
            tax = tax if self.p(0.6) else f"GB {tax[2:5]} {tax[5:9]} {tax[9:]}"
        else:
            lines = [street, f"{city}, {f.state_abbr()} {f.zipcode()}"]
            tax = f"{digits(self.rng, 2)}-{digits(self.rng, 7)}"
            tax = tax if self.p(0.6) else f"EIN {tax}"
        if self.p(0.3):
            lines.append({"de_DE": "Germany", "en_GB": "United Kingdom", "en_US": "USA"}[self.locale])
        contact = clean(f.name())
        email = f"{f.user_name()}@{f.domain_name()}"
        email = "".join(c for c in unicodedata.normalize("NFKD", email) if c.isascii() and not c.isspace())
        if self.p(0.4):
            email = f"{contact} <{email}>"
        return Party(name, lines, tax, contact, clean(f.phone_number()), email, city)

    # SAP-like numbers
    def number(self, kind: str) -> str:
        r, d = self.rng, functools.partial(digits, self.rng)
        year = self.today.year
        options: dict[str, list[Callable[[], str]]] = {
            "PO": [lambda: f"45{d(8)}"],
            "PO_REF": [lambda: f"45{d(8)}"] * 3 + [lambda: f"45{d(8)} / {10 * int(r.integers(1, 9)):05d}"],
            "SO": [lambda: f"1{d(7)}", lambda: f"00{d(8)}", lambda: f"SO {d(7)}", lambda: f"SO {d(8)}"],
            "INVOICE": [
                lambda: f"9{d(7)}",
                lambda: f"INV-{year}-{d(5)}",
                lambda: f"INV {year}-{d(5)}",
                lambda: f"{year}/{d(5)}",
            ],
            "DELIVERY": [lambda: f"80{d(6)}", lambda: f"DN {d(8)}"],
            "GR": [lambda: f"50{d(8)}"],
            "QUOTATION": [lambda: f"20{d(6)}", lambda: f"QT {year}-{d(4)}", lambda: f"QT {d(6)}"],
            "RFQ": [lambda: f"60{d(8)}", lambda: f"RFQ {d(8)}", lambda: f"RFQ {year}-{d(4)}"],
            "CONTRACT": [lambda: f"46{d(8)}", lambda: f"CTR {year}-{d(3)}", lambda: f"SA-{year}-{d(4)}"],
            "CREDIT": [lambda: f"CM-{year}-{d(4)}", lambda: f"CN {year}/{d(4)}", lambda: f"7{d(7)}"],
            "DEBIT": [lambda: f"DM-{year}-{d(4)}", lambda: f"DN-{year}-{d(4)}", lambda: f"DB {d(7)}"],
            "PAYMENT": [lambda: f"20{d(8)}", lambda: f"PAY-{year}-{d(6)}", lambda: f"PA {d(8)}"],
            "REMITTANCE": [lambda: f"RA-{year}-{d(5)}", lambda: f"15{d(8)}", lambda: f"REM {d(6)}"],
            "STATEMENT": [
                lambda: f"ST-{year}{self.today.month:02d}-{d(4)}",
                lambda: f"{d(10)}",
                lambda: f"SOA {d(6)}",
            ],
            "ASN": [lambda: f"18{d(8)}", lambda: f"ASN-{year}-{d(5)}", lambda: f"ASN {d(8)}"],
            "LETTER": [lambda: f"{letters(r, 2)}/{d(4)}/{year}", lambda: f"REF-{d(6)}"],
            "REF": [
                lambda: f"REF-{year}-{d(5)}",
                lambda: f"RF{d(2)} {d(4)} {d(4)} {d(4)}",
                lambda: f"{d(10)}",
            ],
            "CUSTOMER": [lambda: f"{d(6)}", lambda: f"00{d(8)}", lambda: f"CUST {d(6)}"],
            "VENDOR": [lambda: f"{d(6)}", lambda: f"00{d(8)}", lambda: f"V-{d(6)}", lambda: f"VEND {d(6)}"],
        }
        return self.pick(options[kind])()

    def org(self, kind: str) -> str:
        code = {
            "PLANT": self.pick(("1000", "1100", "1200", "2000", "2100", "3000")),
            "SLOC": self.pick(("0001", "0002", "0010", "FG01", "RM01", "1000")),
            "PGRP": self.pick(("001", "002", "A01", "B12", "100")),
            "PORG": self.pick(("1000", "2000", "3000", "0001")),
            "SORG": self.pick(("1000", "1010", "2000", "3000")),
            "CC": self.pick(("1000", "2000", "3000", "1010")),
        }[kind]
        if self.p(0.5):
            return code
        name = {
            "PLANT": clean(self.fake.city()),
            "SLOC": self.pick(
                ("Main Warehouse", "Raw Materials", "Finished Goods", "Spare Parts", "Quality Stock")
            ),
            "PGRP": self.pick(
                ("Electrical", "Mechanical", "Indirect Materials", "Packaging", "IT Procurement")
            ),
            "PORG": self.pick(("Central Purchasing", "Purch. Org. Europe", "Global Procurement")),
            "SORG": self.pick(("Domestic Sales", "Export Sales", "Sales Org. North")),
            "CC": clean(self.fake.company()).split(",")[0],
        }[kind]
        return f"{code} {name}"

    def code(self, *templates: str) -> str:
        """One of ``templates``, each ``{n}`` filled with n digits (all filled in order, then one picked)."""
        fill = lambda m: digits(self.rng, int(m.group(1)))
        return self.pick(tuple(_DIGIT_RUN.sub(fill, t) for t in templates))

    def material(self) -> str:
        return self.code("1000{4}", "00{8}", "RM-{6}", "FG-{4}-A", "M-{4}-{2}", "0 {3} {3} {3}")

    def batch(self) -> str:
        return self.code("B{8}", "00{8}", "LOT {2}-{4}", "CH{6}")

    def serial(self) -> str:
        d = functools.partial(digits, self.rng)
        return self.pick((f"SN{d(8)}", f"{d(10)}", f"SN-{self.today.year}-{d(5)}", f"{d(4)} {d(4)} {d(4)}"))

    def tracking(self) -> str:
        d, r = functools.partial(digits, self.rng), self.rng
        return self.pick(
            (
                f"1Z {d(3)} {letters(r, 2)}{d(1)} {d(2)} {d(4)} {d(4)}",
                f"00340{d(15)}",
                f"{d(4)} {d(4)} {d(4)}",
                f"JJD{d(18)}",
            )
        )

    def container(self) -> str:
        owner = self.pick(("MSCU", "MAEU", "HLXU", "CMAU", "TGHU"))
        serial = digits(self.rng, 6)
        return (
            f"{owner}{serial}{digits(self.rng, 1)}"
            if self.p(0.4)
            else f"{owner} {serial} {digits(self.rng, 1)}"
        )

    def route(self) -> str:
        if self.p(0.3):
            return f"R{digits(self.rng, 5)}"
        return f"{digits(self.rng, 6)} {clean(self.fake.city())}-{clean(self.fake.city())}"

    def bill_of_lading(self) -> str:
        return self.code("MAEU{9}", "HLCUHAM{9}", "MEDU {4} {4}", "HLCU HAM {9}", "BL-{8}", "MAEU {9}")

    def iban(self) -> str:
        country = {"de_DE": "DE", "en_GB": "GB", "en_US": self.pick(("DE", "GB", "NL"))}[self.locale]
        bban = {
            "DE": digits(self.rng, 18),
            "GB": letters(self.rng, 4) + digits(self.rng, 14),
            "NL": letters(self.rng, 4) + digits(self.rng, 10),
        }[country]
        numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
        iban = f"{country}{98 - int(numeric) % 97:02d}{bban}"
        return iban if self.p(0.3) else " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))

    def bic(self) -> str:
        bank = self.pick(("DEUT", "COBA", "BARC", "HSBC", "CHAS", "BOFA", "INGB", "DRES", "LOYD", "NWBK"))
        country = {"de_DE": "DE", "en_GB": "GB", "en_US": "US"}[self.locale]
        loc, branch = letters(self.rng, 2), self.pick(("XXX", "", "500", ""))
        return f"{bank}{country}{loc}{branch}" if self.p(0.7) else f"{bank} {country} {loc} {branch or 'XXX'}"

    def bank(self) -> str:
        return self.pick(
            {
                "de_DE": (
                    "Deutsche Bank AG",
                    "Commerzbank AG",
                    "Sparkasse KölnBonn",
                    "Postbank",
                    "HypoVereinsbank",
                    "DZ Bank",
                ),
                "en_GB": (
                    "Barclays Bank PLC",
                    "HSBC UK Bank plc",
                    "Lloyds Bank plc",
                    "NatWest",
                    "Santander UK plc",
                ),
                "en_US": (
                    "Bank of America, N.A.",
                    "JPMorgan Chase Bank",
                    "Wells Fargo Bank",
                    "Citibank N.A.",
                    "PNC Bank",
                ),
            }[self.locale]
        )

    def account(self) -> str:
        n = digits(self.rng, 8 if self.locale == "en_GB" else 10)
        return n if self.p(0.6) else f"{n[:4]} {n[4:]}"

    def incoterms(self) -> str:
        rule = self.pick(("EXW", "FCA", "CPT", "CIP", "DAP", "DPU", "DDP", "FOB", "CIF", "CFR"))
        if self.p(0.25):
            return rule
        place = clean(self.fake.city())
        return f"{rule} {place}" + (" Incoterms 2020" if self.p(0.4) else "")

    def payment_terms(self) -> str:
        return self.pick(
            (
                "Net 30 days",
                "30 days net",
                "2% 10 days, net 30",
                "Due on receipt",
                "14 days 2% discount, 30 days net",
                "ZB01 14 days 3%, 30 days 2%, 45 days net",
                "Net 60",
                "Payable within 14 days",
                "0001 Payable immediately",
                "End of month plus 30 days",
            )
        )

    def payment_method(self) -> str:
        return self.pick(
            (
                "Bank transfer",
                "SEPA credit transfer",
                "Wire transfer",
                "ACH",
                "Cheque",
                "Direct debit",
                "BACS",
            )
        )

    def carrier(self) -> str:
        return self.pick(
            (
                "DHL Freight",
                "DB Schenker",
                "Kuehne + Nagel",
                "UPS",
                "FedEx",
                "DSV Road",
                "Dachser",
                "Maersk",
                "XPO Logistics",
                "Royal Mail",
                "Hermes",
            )
        )

    def shipping_method(self) -> str:
        return self.pick(
            (
                "Road freight",
                "Air freight",
                "Sea freight",
                "Courier",
                "Parcel",
                "LTL",
                "FTL",
                "Rail freight",
                "Express",
            )
        )

    def weight(self) -> str:
        tenths = int(self.rng.integers(50, 250000))
        if self.p(0.3):
            return f"{self.fmt.qty(tenths // 10)}kg"
        return f"{self.fmt.qty(tenths // 10)}{self.fmt.decimal}{tenths % 10} {self.pick(('kg', 'KG'))}"

    def tax_rate(self) -> int:
        """Basis points."""
        return int(
            self.pick(
                {"de_DE": (1900, 1900, 700), "en_GB": (2000, 2000, 500), "en_US": (0, 625, 700, 825, 887)}[
                    self.locale
                ]
            )
        )

    def items(
        self, n: int, *, service: bool = False, price_lo: int = 200, price_hi: int = 250000
    ) -> list[dict[str, Any]]:
        items = []
        for i in range(1, n + 1):
            if service or self.p(0.1):
                desc = self.pick(_SERVICES)
                uom = self.pick(_SERVICE_UOM)
            else:
                base, specs = self.pick(_PARTS)
                desc = f"{base} {self.pick(specs)}"
                uom = self.pick(_UOM)
            qty = int(self.rng.choice((1, 2, 5, 10, 12, 20, 24, 50, 100, 250, 500, 1000, 2500, 10000)))
            qty = max(1, int(qty * self.rng.uniform(0.5, 1.5)))
            price = int(np.exp(self.rng.uniform(np.log(price_lo), np.log(price_hi))))
            if qty > 500:
                price = max(5, price // 100)
            items.append(
                {
                    "no": self.fmt.item_no(i),
                    "material": self.material(),
                    "desc": desc,
                    "qty": qty,
                    "uom": uom[1] if self.fmt.uom_long else uom[0],
                    "price": price,
                    "amount": qty * price,
                    "batch": self.batch(),
                    "serial": self.serial(),
                    "date": self.ds(3, 60),
                }
            )
        return items
