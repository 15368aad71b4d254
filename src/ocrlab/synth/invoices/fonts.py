"""The font files of the financial documents, per rendering backend."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from ocrlab.synth.fonts import FontNotFoundError, package_font
from ocrlab.synth.invoices.locales import LOCALES

_TTF_FAMILIES = {  # family -> (package, regular file, bold file)
    "Sarabun": ("fontpkg_sarabun", "Sarabun-Regular.ttf", "Sarabun-SemiBold.ttf"),
    "Kanit": ("fontpkg_kanit", "Kanit-Light.ttf", "Kanit-Medium.ttf"),
    "Prompt": ("fontpkg_prompt", "Prompt-Light.ttf", "Prompt-Medium.ttf"),
}
JAPANESE_FONT_FILES = ("ipaexg.ttf", "fonts-japanese-gothic.ttf")


class FontUnavailableError(FontNotFoundError):
    """A font the generator needs (e.g. a Japanese font for ja_JP) is not installed."""


@functools.lru_cache(maxsize=1)
def japanese_font() -> str:
    """A TrueType Japanese font (reportlab embeds only TrueType outlines): IPAexGothic."""
    from ocrlab.synth.fonts import system_font_dirs

    for root in system_font_dirs():
        if root.is_dir():
            for name in JAPANESE_FONT_FILES:
                hits = sorted(root.rglob(name))
                if hits:
                    return str(hits[0].resolve())
    raise FontUnavailableError(
        "ja_JP documents need a Japanese TrueType font (IPAexGothic, ipaexg.ttf); install Debian's "
        "fonts-ipaexfont-gothic (scripts/setup.sh does) or leave ja_JP out with --locales"
    )


# Thai pages are drawn by FreeType through Pillow, which has no glyph cache: Kanit and Prompt
# rasterize ~4x slower than these (0.8 vs 0.2 ms a text run), so Thai documents use Sarabun plus
# the Debian tlwg families that cover the Thai charset (scripts/setup.sh installs them).
THAI_FAMILIES = ("Sarabun", "Garuda", "Loma", "Norasi", "Kinnari", "Waree", "Umpush")
_BOLD_STYLES = ("SemiBold", "Bold")


def font_files(locales: Sequence[str]) -> dict[str, dict[str, str]]:
    """Font files per backend for the given locales: {"pdf"|"raster": {key: path}}.

    Keys are a family name (regular weight) and ``<family>-Bold``."""
    pdf: dict[str, str] = {}
    raster: dict[str, str] = {}
    if any(LOCALES[loc].script == "latin" for loc in locales):
        for family, (package, regular, bold) in _TTF_FAMILIES.items():
            pdf[family] = package_font(package, regular)
            pdf[f"{family}-Bold"] = package_font(package, bold)
    if "ja_JP" in locales:
        pdf["IPAexGothic"] = japanese_font()
    if any(LOCALES[loc].script == "thai" for loc in locales):
        from ocrlab.synth.fonts import discover_fonts

        records = discover_fonts()
        for family in THAI_FAMILIES:
            styles = {r.style: r.path for r in records if r.family == family}
            bold = next((styles[b] for b in _BOLD_STYLES if b in styles), None)
            if "Regular" in styles and bold:
                raster[family] = styles["Regular"]
                raster[f"{family}-Bold"] = bold
        if not raster:
            raise FontUnavailableError(f"th_TH documents need one of the Thai font families {list(THAI_FAMILIES)}")
    return {"pdf": pdf, "raster": raster}
