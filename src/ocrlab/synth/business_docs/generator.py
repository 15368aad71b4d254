"""The business-document generator for :func:`ocrlab.synth.dataset.write_dataset`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from ocrlab.synth.business_docs.composition import compose
from ocrlab.synth.business_docs.content import Content
from ocrlab.synth.business_docs.documents import BUILDERS
from ocrlab.synth.business_docs.layout import Style, variants_of
from ocrlab.synth.business_docs.painter import Painter
from ocrlab.synth.business_docs.schema import (
    DOC_TYPES,
    EXTRA_PO_PER_ROUND,
    HARD_KINDS,
    LABEL2ID,
    LOCALES,
    NUM_VARIANTS,
    PO_SUBTYPES,
    ROUND,
    label_map,
    split_of,
)
from ocrlab.synth.canvas import DocumentCanvas, page_size_points
from ocrlab.synth.dataset import Sample
from ocrlab.synth.degrade import DegradationConfig, Degrader
from ocrlab.synth.font_book import FontBook
from ocrlab.synth.fonts import STANDARD_FAMILIES, FontNotFoundError, font_checksums, package_font
from ocrlab.synth.render import encode_image, render
from ocrlab.synth.sampling import choice

# -- fonts -----------------------------------------------------------------------------------
# Own keys (a "BD-" prefix) and weights: this generator's choice, separate from the invoices'.
_TTF_FAMILIES = {  # key -> (package, regular file, bold file)
    "BD-Sarabun": ("fontpkg_sarabun", "Sarabun-Regular.ttf", "Sarabun-Bold.ttf"),
    "BD-Kanit": ("fontpkg_kanit", "Kanit-Regular.ttf", "Kanit-SemiBold.ttf"),
    "BD-Prompt": ("fontpkg_prompt", "Prompt-Regular.ttf", "Prompt-SemiBold.ttf"),
}


def font_files() -> dict[str, str]:
    """TrueType fonts used besides the PDF standard fonts: {key: path}; families whose font
    package is not installed are left out (the standard fonts always work)."""
    files: dict[str, str] = {}
    for key, (package, regular, bold) in _TTF_FAMILIES.items():
        try:
            files[key], files[f"{key}-Bold"] = package_font(package, regular), package_font(package, bold)
        except FontNotFoundError:
            continue
    return files


# Photometric only: a geometric degradation would move text away from its boxes.
SCAN_DEGRADATION: dict[str, Any] = {
    "preset": "none", "gaussian_noise_p": 1.0, "gaussian_noise_sigma": [3.0, 9.0], "gaussian_blur_p": 0.4,
    "gaussian_blur_radius": [0.3, 0.6], "brightness_contrast_p": 0.6, "contrast": [0.7, 0.95],
    "brightness": [-0.04, 0.04], "background_p": 0.7, "background_darkness": [0.03, 0.12], "salt_pepper_p": 0.3,
    "salt_pepper_amount": [0.0002, 0.001], "jpeg_p": 0.3, "jpeg_quality": [45, 75],
}  # fmt: skip


# -- generator -------------------------------------------------------------------------------
class BusinessDocGenerator:
    """Business documents for :func:`ocrlab.synth.dataset.write_dataset` (the business-document annotation format).

    ``dpi`` defaults to 100: LayoutLMv3 resizes every page to 224x224 px, so a higher raster
    resolution buys nothing for training but costs render and JPEG time and disk (an A4 page at
    100 dpi is 827x1169 px). ``holdout_layouts`` keeps the last layout variant of every document
    type out of train/val (half of the test pages use it).
    """

    kind = "business-docs"

    def __init__(
        self,
        *,
        seed: int = 0,
        hard_ratio: float = 0.1,
        dpi: float = 100,
        image_format: str = "jpg",
        grayscale: bool = True,
        holdout_layouts: bool = False,
    ):
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed={seed!r}: expected an integer >= 0")
        if (
            isinstance(hard_ratio, bool)
            or not isinstance(hard_ratio, (int, float))
            or not 0 <= hard_ratio <= 1
        ):
            raise ValueError(f"hard_ratio={hard_ratio!r}: expected a number in [0, 1]")
        if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not 36 <= dpi <= 600:
            raise ValueError(f"dpi={dpi!r}: expected a number in 36..600")
        if image_format not in ("jpg", "png"):
            raise ValueError(f"image_format={image_format!r}: expected 'jpg' or 'png'")
        if not isinstance(grayscale, bool):
            raise ValueError(f"grayscale={grayscale!r}: expected a bool")  # noqa: TRY004 (ValueError by contract)
        if not isinstance(holdout_layouts, bool):
            raise ValueError(f"holdout_layouts={holdout_layouts!r}: expected a bool")  # noqa: TRY004
        self.seed = int(seed)
        self.hard_ratio = float(hard_ratio)
        self.dpi = float(dpi)
        self.image_format = image_format
        self.grayscale = grayscale
        self.holdout_layouts = holdout_layouts
        self._fonts = font_files()
        self._cache: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"] = {}  # the font book and the degrader are rebuilt in each worker
        return state

    def spec(self) -> dict[str, Any]:
        return {
            "generator": "ocrlab.synth.business_docs/1",
            "seed": self.seed,
            "hard_ratio": self.hard_ratio,
            "dpi": self.dpi,
            "image_format": self.image_format,
            "grayscale": self.grayscale,
            "holdout_layouts": self.holdout_layouts,
            "fonts": font_checksums(self._fonts),
        }

    def static_files(self) -> dict[str, bytes]:
        return {"label_map.json": (json.dumps(label_map(), indent=1) + "\n").encode("utf-8")}

    # draws
    def plan(self, index: int) -> dict[str, Any]:
        """Document type, PO subtype and split of sample ``index`` (cheap: nothing is drawn)."""
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
            raise ValueError(f"index={index!r}: expected an integer >= 0")
        index = int(index)
        r, pos = divmod(index, ROUND)
        slots = DOC_TYPES + ("PURCHASE_ORDER",) * EXTRA_PO_PER_ROUND
        perm = np.random.default_rng([self.seed, 1, r]).permutation(ROUND)
        doc_type = slots[int(perm[pos])]
        subtype = None
        if doc_type == "PURCHASE_ORDER":
            per_round = 1 + EXTRA_PO_PER_ROUND
            k = r * per_round + sum(slots[int(p)] == "PURCHASE_ORDER" for p in perm[:pos])
            q, j = divmod(k, len(PO_SUBTYPES))
            subtype = PO_SUBTYPES[
                int(np.random.default_rng([self.seed, 2, q]).permutation(len(PO_SUBTYPES))[j])
            ]
        return {"doc_type": doc_type, "po_subtype": subtype, "split": split_of(index)}

    def _fontbook(self) -> FontBook:
        if "fontbook" not in self._cache:
            book = FontBook("pdf")
            for key, path in self._fonts.items():
                book.add(key, path)
            self._cache["fontbook"] = book
        return self._cache["fontbook"]

    def _style(self, rng: np.random.Generator, kinds: Sequence[str]) -> Style:
        # Embedded TrueType fonts cost twice the PDF time of the standard fonts: 1 page in 3.
        ttf = [k for k in self._fonts if not k.endswith("-Bold")]
        family = choice(rng, ttf) if ttf and rng.random() < 1 / 3 else choice(rng, list(STANDARD_FAMILIES))
        regular, bold = STANDARD_FAMILIES.get(family, (family, f"{family}-Bold"))
        size = float(rng.uniform(8.2, 10.2)) if family != "Courier" else float(rng.uniform(7.6, 9.0))
        leading = float(rng.uniform(1.2, 1.45))
        margin = float(rng.uniform(32, 60))
        if "small_font" in kinds:
            size = float(rng.uniform(5.8, 7.0))
        if "dense_layout" in kinds:
            leading, margin = float(rng.uniform(1.05, 1.15)), margin * 0.6
        return Style(
            regular,
            bold,
            round(size, 2),
            round(leading, 3),
            round(margin, 1),
            round(float(rng.uniform(0.0, 0.3)), 2),
            bool(rng.random() < 0.6),
            bool(rng.random() < 0.2),
            bool(rng.random() < 0.5),
            round(float(rng.uniform(14, 21)), 1),
        )

    def _variant(self, rng: np.random.Generator, split: str) -> int:
        if not self.holdout_layouts:
            return int(rng.integers(NUM_VARIANTS))
        held = NUM_VARIANTS - 1
        if split == "test" and rng.random() < 0.5:
            return held
        return int(rng.integers(held))

    def layout(self, index: int) -> tuple[DocumentCanvas, dict[str, Any]]:
        """Sample ``index`` laid out (not rendered) and its manifest record."""
        plan = self.plan(index)
        rng = np.random.default_rng([self.seed, index])
        locale = choice(rng, LOCALES)
        variant_index = self._variant(rng, plan["split"])
        variant = variants_of(plan["doc_type"])[variant_index]
        kinds: list[str] = []
        if rng.random() < self.hard_ratio:
            n = 1 if rng.random() < 0.7 else 2
            kinds = sorted(
                (str(k) for k in rng.choice(HARD_KINDS, size=n, replace=False)), key=HARD_KINDS.index
            )
        style = self._style(rng, kinds)
        logo = int(rng.integers(3))
        content = Content(rng, locale, dense=bool({"small_font", "dense_layout"} & set(kinds)))
        doc = BUILDERS[plan["doc_type"]](content, plan["po_subtype"])
        extras = [
            tuple(
                str(e)
                for e in rng.choice(
                    ("tax", "contact", "phone", "email"), size=int(rng.integers(0, 3)), replace=False
                )
            )
            for _ in doc.parties
        ]
        page = page_size_points("LETTER" if locale == "en_US" and rng.random() < 0.8 else "A4")
        for _attempt in range(4):
            canvas = DocumentCanvas(page, self._fontbook())
            items = compose(Painter(canvas, style, variant), doc, logo, extras)
            if all(
                w.box[0] >= 0 and w.box[1] >= 0 and w.box[2] <= page[0] and w.box[3] <= page[1]
                for w in canvas.words
            ):
                break
            # too much for one page: smaller type, tighter lines, fewer items
            style = Style(
                **{
                    **style.__dict__,
                    "size": round(style.size * 0.88, 2),
                    "leading": max(1.05, round(style.leading * 0.93, 3)),
                }
            )
            doc.items = doc.items[: max(1, len(items) - 2)]
        else:
            raise RuntimeError(f"sample {index}: {plan['doc_type']} does not fit on one page")
        record = {
            "id": f"doc_{index:06d}",
            **plan,
            "locale": locale,
            "layout": variant_index,
            "layout_name": variant.name(),
            "hard": bool(kinds),
            "hard_kinds": kinds,
            "font": style.regular,
            "font_size": style.size,
            "items": len(items),
        }
        return canvas, record

    def sample(self, index: int) -> Sample:
        canvas, record = self.layout(index)
        rng = np.random.default_rng([self.seed, index, 1])  # image degradation draws
        rendered = render(canvas, self.dpi, grayscale=self.grayscale)
        image = rendered.images[0]
        px = rendered.scale  # pixels per point
        if "scan_noise" in record["hard_kinds"]:
            if "degrader" not in self._cache:
                self._cache["degrader"] = Degrader(DegradationConfig.from_dict(SCAN_DEGRADATION))
            image = self._cache["degrader"](image, rng)
        width, height = image.size
        sx, sy = 1000 / width, 1000 / height
        words, boxes, labels = [], [], []
        previous = None
        for w in canvas.words:  # boxes in points: scale straight to 0..1000 of the page
            x0, y0, x1, y1 = w.box
            x0, x1 = min(1000, max(0, round(x0 * px * sx))), min(1000, max(0, round(x1 * px * sx)))
            y0, y1 = min(1000, max(0, round(y0 * px * sy))), min(1000, max(0, round(y1 * px * sy)))
            words.append(w.text)
            boxes.append([x0, y0, x1, y1])
            if w.field is None:
                labels.append(0)
            else:
                labels.append(LABEL2ID[("I-" if w.field == previous else "B-") + w.field.split("#", 1)[0]])
            previous = w.field
        doc_id, split = record["id"], record["split"]
        image_name = f"{doc_id}.{self.image_format}"
        annotation = {
            "image_path": image_name,
            "doc_type": record["doc_type"],
            "po_subtype": record["po_subtype"],
            "words": words,
            "boxes": boxes,
            "token_labels": labels,
            "width": width,
            "height": height,
        }
        files = {
            f"{split}/images/{image_name}": encode_image(image, self.image_format),
            f"{split}/annotations/{doc_id}.json": (json.dumps(annotation, ensure_ascii=False) + "\n").encode(
                "utf-8"
            ),
        }
        return Sample(files, {**record, "words": len(words)})
