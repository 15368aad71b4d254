"""The financial-document generator for :func:`ocrlab.synth.dataset.write_dataset`."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np
from PIL import Image

from ocrlab.synth.canvas import DocumentCanvas, WordBox, page_size_points
from ocrlab.synth.dataset import Sample
from ocrlab.synth.degrade import DegradationConfig, Degrader
from ocrlab.synth.font_book import FontBook, winansi_covers
from ocrlab.synth.fonts import STANDARD_FAMILIES, font_checksums
from ocrlab.synth.invoices.content import DocumentContent, make_content, table_html
from ocrlab.synth.invoices.fonts import _TTF_FAMILIES, font_files
from ocrlab.synth.invoices.layout import LAYOUTS, TextStyle, _Drawer
from ocrlab.synth.invoices.locales import CAPTIONS, LOCALES
from ocrlab.synth.invoices.schema import DOCUMENT_TYPES, HARD_KINDS, LAYOUT_FAMILIES, SCHEMA_VERSION
from ocrlab.synth.money import CURRENCIES
from ocrlab.synth.plan import SynthesisPlan
from ocrlab.synth.render import encode_image, render
from ocrlab.synth.sampling import choice, weighted_choice


class InvoiceGenerator:
    """Financial documents for :func:`ocrlab.synth.dataset.write_dataset`.

    ``locales``/``currencies`` restrict the draw (default: all, each locale with its own
    currency; a currency list mixes currencies into every locale). ``plan`` is a
    :class:`SynthesisPlan` (see :mod:`ocrlab.synth.plan`). ``grayscale`` pages are smaller and
    4x faster to rasterize; ``dpi`` sets the raster resolution; ``image_format`` ``jpg`` (default,
    ~5 ms a page to encode) or ``png`` (lossless, ~25-60 ms).
    """

    kind = "invoices"

    def __init__(
        self,
        *,
        seed: int = 0,
        hard_ratio: float = 0.1,
        locales: Sequence[str] | None = None,
        currencies: Sequence[str] | None = None,
        document_types: Sequence[str] | None = None,
        plan: SynthesisPlan | None = None,
        dpi: float = 150,
        image_format: str = "jpg",
        grayscale: bool = True,
        jpeg_quality: int = 90,
    ):
        def check(names, allowed, what):
            if names is None:
                return list(allowed)
            names = list(names)
            unknown = [n for n in names if n not in allowed]
            if unknown or not names:
                raise ValueError(f"unknown {what} {unknown or names}; allowed values: {list(allowed)}")
            return names

        if isinstance(hard_ratio, bool) or not isinstance(hard_ratio, (int, float)) or not 0 <= hard_ratio <= 1:
            raise ValueError(f"hard_ratio={hard_ratio!r}: expected a number in [0, 1]")
        if not 36 <= dpi <= 600:
            raise ValueError(f"dpi={dpi}: expected 36..600")
        if image_format not in ("jpg", "png"):
            raise ValueError(f"image_format={image_format!r}: expected 'jpg' or 'png'")
        if not 1 <= jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality={jpeg_quality}: expected 1..100")
        self.seed = int(seed)
        self.locales = check(locales, LOCALES, "locale(s)")
        self.currencies = None if currencies is None else check(currencies, CURRENCIES, "currency(ies)")
        self.document_types = check(document_types, DOCUMENT_TYPES, "document type(s)")
        self.plan = plan or SynthesisPlan()
        self.hard_ratio = float(self.plan.hard_ratio if self.plan.hard_ratio is not None else hard_ratio)
        self.dpi = float(dpi)
        self.image_format = image_format
        self.grayscale = bool(grayscale)
        self.jpeg_quality = int(jpeg_quality)
        self._fonts = font_files(self.locales)
        self._cache: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"] = {}  # font books and degraders are rebuilt in each worker
        return state

    def spec(self) -> dict[str, Any]:
        return {
            "generator": "ocrlab.synth.invoices/1",
            "seed": self.seed,
            "hard_ratio": self.hard_ratio,
            "locales": self.locales,
            "currencies": self.currencies,
            "document_types": self.document_types,
            "plan": self.plan.to_dict(),
            "dpi": self.dpi,
            "image_format": self.image_format,
            "grayscale": self.grayscale,
            "jpeg_quality": self.jpeg_quality,
            "fonts": {backend: font_checksums(files) for backend, files in self._fonts.items()},
        }

    def static_files(self) -> dict[str, bytes]:
        return {}

    # draws
    def _weights(self, section: str, names: Sequence[str]) -> dict[str, float]:
        plan_weights = getattr(self.plan, section)
        if plan_weights is None:
            return {n: 1.0 for n in names}
        weights = {n: plan_weights.get(n, 0.0) for n in names}
        if not any(weights.values()):
            raise ValueError(f"plan {section} gives weight 0 to every allowed value {list(names)}")
        return weights

    def draw_attributes(self, rng: np.random.Generator) -> dict[str, Any]:
        """Document type, locale, currency, layout and hard kinds of one document."""
        doc_type = weighted_choice(rng, self._weights("document_types", self.document_types))
        locale = weighted_choice(rng, self._weights("locales", self.locales))
        hard = bool(rng.random() < self.hard_ratio)
        kinds: list[str] = []
        if hard:
            weights = self.plan.hard_kind_weights()
            n = int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1]))
            pool = dict(weights)
            for _ in range(min(n, len(pool))):
                k = weighted_choice(rng, pool)
                kinds.append(k)
                pool.pop(k)
            kinds.sort(key=HARD_KINDS.index)
        if self.currencies is not None or self.plan.currencies is not None:
            currency = weighted_choice(rng, self._weights("currencies", self.currencies or list(CURRENCIES)))
        elif "uncommon_currency" in kinds:
            currency = choice(rng, [c for c in CURRENCIES if c != LOCALES[locale].currency])
        else:
            currency = LOCALES[locale].currency
        allowed_layouts = ("receipt", "classic", "minimal") if doc_type == "receipt" else LAYOUT_FAMILIES[:-1]
        lw = self._weights("layouts", LAYOUT_FAMILIES)
        lw = {k: lw.get(k, 0.0) for k in allowed_layouts}
        if doc_type == "receipt" and self.plan.layouts is None:
            lw["receipt"] = 4.0  # most receipts are till rolls
        if not any(lw.values()):
            lw = {k: 1.0 for k in allowed_layouts}
        layout = weighted_choice(rng, lw)
        return {"document_type": doc_type, "locale": locale, "currency": currency, "layout": layout, "hard": hard, "hard_kinds": kinds}

    def _fontbook(self, backend: str) -> FontBook:
        key = f"fontbook-{backend}"
        if key not in self._cache:
            book = FontBook(backend, raster_dpi=self.dpi)  # type: ignore[arg-type]
            for name, path in self._fonts[backend].items():
                book.add(name, path)
            self._cache[key] = book
        return self._cache[key]

    def _style(self, rng: np.random.Generator, attrs: dict[str, Any], content: DocumentContent) -> TextStyle:
        script = LOCALES[attrs["locale"]].script
        kinds = attrs["hard_kinds"]
        if script == "cjk":
            regular = bold = "IPAexGothic"
        elif script == "thai":
            family = choice(rng, [k for k in self._fonts["raster"] if not k.endswith("-Bold")])
            regular, bold = family, f"{family}-Bold"
        else:
            families = list(_TTF_FAMILIES)
            if script == "latin" and winansi_covers(content.money(Decimal("1234.5"))):
                families += ["Helvetica", "Times"] + (["Courier"] if attrs["layout"] == "receipt" else [])
            family = choice(rng, families)
            regular, bold = STANDARD_FAMILIES.get(family, (family, f"{family}-Bold"))
        size = float(rng.uniform(8.5, 10.5))
        if attrs["layout"] == "receipt":
            size = float(rng.uniform(7.5, 9.0))
        if "small_font" in kinds:
            size = float(rng.uniform(5.5, 7.0))
        leading = float(rng.uniform(1.25, 1.45))
        margin = float(rng.uniform(36, 60)) if attrs["layout"] != "receipt" else float(rng.uniform(12, 18))
        if "dense_layout" in kinds:
            leading, margin = float(rng.uniform(1.05, 1.15)), margin * 0.5
        hue = rng.uniform(0, 0.5, size=3)
        return TextStyle(regular, bold, round(size, 2), round(leading, 3), round(margin, 1), tuple(float(v) for v in hue))  # type: ignore[arg-type]

    def sample(self, index: int) -> Sample:
        rng = np.random.default_rng([self.seed, index])
        attrs = self.draw_attributes(rng)
        doc_id = f"{attrs['document_type']}_{index:06d}"
        content = make_content(rng, doc_id, attrs["document_type"], attrs["locale"], attrs["currency"], attrs["hard_kinds"])
        backend = "raster" if LOCALES[attrs["locale"]].script == "thai" else "pdf"
        fonts = self._fontbook(backend)
        style = self._style(rng, attrs, content)
        layout = LAYOUTS[attrs["layout"]]
        page = page_size_points(layout.page or LOCALES[attrs["locale"]].page_size)
        canvas = DocumentCanvas(page, fonts)
        drawer = _Drawer(canvas, content, layout, style, rng)
        drawer.draw()
        if "stamp" in attrs["hard_kinds"]:
            target = next((r for r in reversed(drawer.regions) if r.block in ("summary", "table")), drawer.regions[-1])
            cx = (target.box[0] + target.box[2]) / 2 + float(rng.uniform(-30, 30))
            cy = (target.box[1] + target.box[3]) / 2
            caption = CAPTIONS[LOCALES[attrs["locale"]].language]["paid"]
            canvas.stamp(cx, cy, caption, style.bold, style.size * 2.6, angle=float(rng.uniform(-25, 25)), page=target.page)
        rendered = render(canvas, self.dpi, grayscale=self.grayscale)
        images = rendered.images
        words = rendered.words
        s = rendered.scale
        regions = [(r.block, r.page, tuple(round(v * s, 2) for v in r.box)) for r in drawer.regions]
        images, words, regions = self._degrade(rng, attrs["hard_kinds"], images, words, regions)

        files: dict[str, bytes] = {}
        pages = []
        for n, image in enumerate(images, start=1):
            rel = f"images/{doc_id}_p{n}.{self.image_format}"
            files[rel] = encode_image(image, self.image_format, quality=self.jpeg_quality)
            pages.append({"image": rel, "width": image.width, "height": image.height})
        files[f"pdf/{doc_id}.pdf"] = rendered.pdf
        gt = {
            "schema_version": SCHEMA_VERSION,
            "id": doc_id,
            **content.ground_truth(),
            "table_html": table_html(content),
            "hard": attrs["hard"],
            "hard_kinds": attrs["hard_kinds"],
            "rendering": {
                "layout": attrs["layout"], "backend": backend, "font": style.regular, "font_size": style.size,
                "page_size_pt": [round(v, 2) for v in page], "dpi": self.dpi, "grayscale": self.grayscale,
            },
            "pages": pages,
            "pdf": f"pdf/{doc_id}.pdf",
            "regions": [{"block": b, "page": p, "box": list(box)} for b, p, box in regions],
            "words": [w.to_dict() for w in words],
        }
        # Compact: the C encoder is ~10x faster than indent= (which falls back to Python).
        files[f"ground_truth/{doc_id}.json"] = (json.dumps(gt, ensure_ascii=False) + "\n").encode("utf-8")
        record = {
            "id": doc_id, "document_type": attrs["document_type"], "locale": attrs["locale"],
            "currency": attrs["currency"], "layout": attrs["layout"], "pages": len(images),
            "hard_kinds": attrs["hard_kinds"],
        }
        return Sample(files, record)

    def _degrade(self, rng, kinds, images, words, regions):
        """Image-level hard kinds; geometric ones move the boxes with the pixels."""
        if "skew" in kinds:
            angle = float(rng.uniform(1.0, 4.0)) * (1 if rng.random() < 0.5 else -1)
            rotated = []
            for image in images:
                fill = 255 if image.mode == "L" else (255, 255, 255)
                rotated.append(image.rotate(angle, resample=Image.Resampling.BILINEAR, expand=False, fillcolor=fill))
            sizes = [im.size for im in images]
            words = [WordBox(w.text, _rotate_box(w.box, angle, sizes[w.page]), w.page, w.field) for w in words]
            regions = [(b, p, _rotate_box(box, angle, sizes[p])) for b, p, box in regions]
            images = rotated
        for kind in ("low_contrast", "scan_noise"):
            if kind in kinds:
                key = f"degrader-{kind}"
                if key not in self._cache:
                    self._cache[key] = Degrader(DegradationConfig.from_dict(_DEGRADATIONS[kind]))
                images = [self._cache[key](image, rng) for image in images]
        return images, words, regions


_DEGRADATIONS: dict[str, dict[str, Any]] = {
    # Photometric only: geometry (rotation, perspective) would move text away from its boxes.
    "low_contrast": {"preset": "none", "brightness_contrast_p": 1.0, "contrast": [0.3, 0.55],
                     "brightness": [0.05, 0.2], "background_p": 1.0, "background_darkness": [0.08, 0.2]},
    "scan_noise": {"preset": "none", "gaussian_blur_p": 0.6, "gaussian_blur_radius": [0.4, 0.9],
                   "gaussian_noise_p": 1.0, "gaussian_noise_sigma": [4.0, 12.0], "salt_pepper_p": 0.7,
                   "salt_pepper_amount": [0.0005, 0.003], "downscale_p": 0.4, "downscale_factor": [0.6, 0.9],
                   "jpeg_p": 0.5, "jpeg_quality": [25, 60]},
}


def _rotate_box(box, angle: float, size: tuple[int, int]) -> tuple[float, float, float, float]:
    """Axis-aligned box of ``box`` after PIL's ``rotate(angle)`` about the image centre."""
    w, h = size
    cx, cy = w / 2, h / 2
    rad = math.radians(angle)
    cos, sin = math.cos(rad), math.sin(rad)
    xs, ys = [], []
    for x, y in ((box[0], box[1]), (box[2], box[1]), (box[2], box[3]), (box[0], box[3])):
        dx, dy = x - cx, y - cy
        # PIL rotates counter-clockwise on screen (y down): x' = cx + dx cos + dy sin, y' = cy - dx sin + dy cos
        xs.append(cx + dx * cos + dy * sin)
        ys.append(cy - dx * sin + dy * cos)
    return (round(max(0.0, min(xs)), 2), round(max(0.0, min(ys)), 2), round(min(float(w), max(xs)), 2), round(min(float(h), max(ys)), 2))
