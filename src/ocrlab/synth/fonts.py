"""Discovery of fonts that can draw every character a Thai financial label may hold.

A font *draws* a character when its cmap maps it to a glyph with an outline (a mapped but empty
glyph is the "tofu" a renderer shows as nothing or a box). With ``fallbacks`` (the text-line
generator's pool), a Thai-only face (Noto Sans Thai has no digits or Latin) is completed by a
fallback family for the characters it lacks, as a word processor does, and whatever the pair
still cannot draw is recorded in the record's ``missing``: the generator never gives that face a
line holding one of them.

Sources, in this order:

* the PyPI font packages ``fontpkg_sarabun``, ``fontpkg_kanit`` and ``fontpkg_prompt``
  (OFL-1.1; their ``files/*.ttf`` are located through ``importlib.resources``), present on
  every machine the project is installed on;
* system fonts under the standard font folders (e.g. Debian's ``fonts-thai-tlwg`` in
  ``/usr/share/fonts/truetype/tlwg``), which differ between machines. To make a dataset that
  does not depend on the machine, restrict it with ``include=["Sarabun", "Kanit", "Prompt"]``.

Only ``.ttf``/``.otf`` files are considered (collections ``.ttc`` would need a face index).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import logging
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ocrlab.text.charset import Charset

FONT_PACKAGES: tuple[str, ...] = ("fontpkg_sarabun", "fontpkg_kanit", "fontpkg_prompt")
FONT_SUFFIXES = (".ttf", ".otf")


def system_font_dirs() -> list[Path]:
    """The standard font folders of this platform (existing or not)."""
    home = Path.home()
    if sys.platform == "darwin":
        return [Path("/System/Library/Fonts"), Path("/Library/Fonts"), home / "Library/Fonts"]
    if sys.platform == "win32":
        windir = Path(os.environ.get("WINDIR", r"C:\Windows"))
        return [windir / "Fonts", home / "AppData/Local/Microsoft/Windows/Fonts"]
    data_home = Path(os.environ.get("XDG_DATA_HOME", home / ".local/share"))
    return [Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), data_home / "fonts", home / ".fonts"]


def required_chars() -> str:
    """Every non-space character of :meth:`Charset.thai`: Thai, digits, Latin, punctuation, ฿."""
    return "".join(c for c in Charset.thai().symbols if not c.isspace())


def thai_core(chars: str) -> str:
    """The Thai-block characters of ``chars``: what a face must draw itself to be a Thai face."""
    return "".join(c for c in chars if 0x0E00 <= ord(c) <= 0x0E7F)


# Thai-only families and the family that draws what they lack (Latin, digits, ASCII
# punctuation): the pairing fontconfig and word processors make on Debian with fonts-noto-core.
DEFAULT_FALLBACKS: dict[str, str] = {
    "Noto Sans Thai": "Noto Sans",
    "Noto Serif Thai": "Noto Serif",
    "Noto Looped Thai": "Noto Sans",
}
# Where the families of the default pool come from, for the error that names a missing one.
FAMILY_SOURCES: dict[str, str] = {
    **{f: "pip install fontpkg-" + f.lower() for f in ("Sarabun", "Kanit", "Prompt")},
    **{f: "Debian package fonts-thai-tlwg" for f in (
        "Garuda", "Kinnari", "Laksaman", "Loma", "Norasi", "Purisa", "Sawasdee", "Tlwg Mono",
        "Tlwg Typewriter", "Tlwg Typist", "Tlwg Typo", "Umpush", "Waree")},
    **{f: "Debian package fonts-arundina" for f in ("Arundina Sans", "Arundina Sans Mono", "Arundina Serif")},
    **{f: "Debian package fonts-noto-core" for f in (*DEFAULT_FALLBACKS, "Noto Sans", "Noto Serif")},
}


class FontNotFoundError(RuntimeError):
    """No font satisfies the coverage requirement and the include/exclude filters."""


@dataclass(frozen=True, order=True)
class FontRecord:
    """One usable font file. Records sort by family, style, file name: a stable order."""

    family: str
    style: str
    filename: str
    path: str
    sha256: str
    missing: str = ""  # characters of the required set this face cannot draw, fallback included
    fallback_path: str | None = None  # the font that draws the characters this one lacks
    fallback_sha256: str | None = None

    @property
    def name(self) -> str:
        return f"{self.family} {self.style}"

    def to_dict(self) -> dict[str, str]:
        """What a manifest records: no absolute path, which differs between machines."""
        out = {"family": self.family, "style": self.style, "filename": self.filename, "sha256": self.sha256}
        if self.fallback_path:
            out.update(fallback=Path(self.fallback_path).name, fallback_sha256=self.fallback_sha256)
        if self.missing:
            out["missing"] = self.missing
        return out


def discover_fonts(
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    *,
    search_system: bool = True,
    chars: str | None = None,
    fallbacks: Mapping[str, str] | None = None,
) -> list[FontRecord]:
    """Fonts able to draw ``chars`` (default :func:`required_chars`), filtered by family.

    Without ``fallbacks`` a font is kept only if it draws every one of ``chars``. Thai-only
    fonts lack digits and Latin letters, and Latin fonts lack Thai; a renderer would draw the
    missing characters as empty boxes ("tofu") while the label still says the characters are
    there, teaching the model wrong targets. So such fonts are excluded.

    With ``fallbacks`` ({family: fallback family}, e.g. :data:`DEFAULT_FALLBACKS`) a font is kept
    if it draws the Thai characters of ``chars`` itself; a listed family's fallback (same style,
    else its Regular) draws what it lacks, and what neither draws is the record's ``missing``.

    ``include``/``exclude`` are family names compared case-insensitively (``exclude=["Kanit"]``
    holds Kanit out, e.g. for a test set of unseen fonts); an unknown name in either raises
    :class:`FontNotFoundError`, so a typo cannot silently hold nothing out. Files with the same
    bytes found twice are listed once. Returns the records in sorted order.
    """
    chars = chars if chars is not None else required_chars()
    scanned = _scan(tuple(_candidate_paths(search_system)))
    candidates = _faces(scanned, chars, fallbacks)
    if not candidates:
        raise FontNotFoundError(
            f"no font that covers all {len(chars)} required characters was found in the "
            f"packages {list(FONT_PACKAGES)} or under {[str(d) for d in system_font_dirs()]}; "
            "install e.g. `pip install fontpkg-sarabun` or Debian's fonts-thai-tlwg"
        )
    include_set = _family_set(include, candidates, "include")
    exclude_set = _family_set(exclude, candidates, "exclude")
    fonts = [
        r
        for r in candidates
        if (include_set is None or r.family.casefold() in include_set)
        and (exclude_set is None or r.family.casefold() not in exclude_set)
    ]
    if not fonts:
        raise FontNotFoundError(
            f"no font left after include={list(include or [])} exclude={list(exclude or [])}; "
            f"usable families: {sorted({r.family for r in candidates})}"
        )
    return fonts


def _family_set(names: Sequence[str] | None, candidates: list[FontRecord], what: str) -> set[str] | None:
    if names is None:
        return None
    if isinstance(names, str):
        raise TypeError(f"font {what} must be a list of family names, not the string {names!r}")
    known = {r.family.casefold() for r in candidates}
    unknown = sorted(n for n in names if n.casefold() not in known)
    if unknown:
        raise FontNotFoundError(
            f"font {what} names unknown families {unknown}; usable families: {families(candidates)}"
        )
    return {n.casefold() for n in names}


def _candidate_paths(search_system: bool) -> list[str]:
    paths: list[str] = []
    for package in FONT_PACKAGES:
        try:
            files = importlib.resources.files(package) / "files"
        except ModuleNotFoundError:
            continue
        if files.is_dir():
            paths += [str(f) for f in files.iterdir() if f.name.lower().endswith(FONT_SUFFIXES)]
    if search_system:
        for root in system_font_dirs():
            if root.is_dir():
                paths += [
                    str(p) for p in root.rglob("*") if p.suffix.lower() in FONT_SUFFIXES and p.is_file()
                ]
    return sorted(paths)


@dataclass(frozen=True)
class _FontFile:
    family: str
    style: str
    path: str
    sha256: str
    drawn: frozenset[int]  # code points mapped to a glyph with an outline (or to a space)


@functools.lru_cache(maxsize=8)
def _scan(paths: tuple[str, ...]) -> tuple[_FontFile, ...]:
    """Parse each file once per process (~2 ms a font); unreadable files are skipped, files with
    the same bytes are listed once."""
    from fontTools.ttLib import TTFont, TTLibError

    # fontTools logs header quirks of some system fonts ("'created' timestamp seems very low"):
    # nothing a user can act on, so not printed while scanning.
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    by_hash: dict[str, _FontFile] = {}
    for path in paths:
        try:
            sha256 = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            if sha256 in by_hash:
                continue
            font = TTFont(path, lazy=True)
            names = font["name"]
            # Typographic family/subfamily (IDs 16/17) group weights like "Sarabun Light"
            # under "Sarabun"; IDs 1/2 are the legacy fallbacks.
            family = names.getDebugName(16) or names.getDebugName(1)
            style = names.getDebugName(17) or names.getDebugName(2) or "Regular"
            drawn = _drawn_code_points(font)
        except (TTLibError, KeyError, OSError, AssertionError, IndexError):
            continue
        if family:
            by_hash[sha256] = _FontFile(family, style, path, sha256, drawn)
    return tuple(by_hash.values())


def _drawn_code_points(font) -> frozenset[int]:
    """Code points of the cmap whose glyph has an outline. TrueType: a glyph with no bytes in
    ``loca`` is empty (fonts map unassigned Thai code points that way); CFF: no control bounds."""
    cmap = font.getBestCmap() or {}
    if "loca" in font:
        loca = font["loca"]
        has_outline = {g for g in set(cmap.values()) if (i := font.getGlyphID(g)) + 1 < len(loca)
                       and loca[i + 1] > loca[i]}
    else:
        from fontTools.pens.boundsPen import ControlBoundsPen

        glyphs = font.getGlyphSet()
        has_outline = set()
        for g in set(cmap.values()):
            pen = ControlBoundsPen(glyphs)
            glyphs[g].draw(pen)
            if pen.bounds is not None:
                has_outline.add(g)
    return frozenset(c for c, g in cmap.items() if g in has_outline or chr(c).isspace())


def _faces(scanned: tuple[_FontFile, ...], chars: str, fallbacks: Mapping[str, str] | None) -> list[FontRecord]:
    needed = {ord(c) for c in chars}
    if fallbacks is None:
        return sorted(FontRecord(f.family, f.style, Path(f.path).name, f.path, f.sha256)
                      for f in scanned if needed <= f.drawn)
    core = {ord(c) for c in thai_core(chars)}
    by_family: dict[str, list[_FontFile]] = {}
    for f in scanned:
        by_family.setdefault(f.family.casefold(), []).append(f)
    fallback_of = {k.casefold(): v.casefold() for k, v in fallbacks.items()}
    records = []
    for f in scanned:
        if not core <= f.drawn:
            continue
        fallback = _same_style(by_family.get(fallback_of.get(f.family.casefold(), ""), []), f.style)
        if needed <= f.drawn:
            fallback = None  # draws everything itself
        drawn = f.drawn | (fallback.drawn if fallback else frozenset())
        missing = "".join(sorted(chr(c) for c in needed - drawn))
        records.append(FontRecord(f.family, f.style, Path(f.path).name, f.path, f.sha256, missing,
                                  fallback.path if fallback else None, fallback.sha256 if fallback else None))
    return sorted(records)


def _same_style(files: list[_FontFile], style: str) -> _FontFile | None:
    """The file of ``style`` among a family's files, else its Regular, else the first."""
    for wanted in (style, "Regular"):
        for f in sorted(files, key=lambda f: f.path):
            if f.style.casefold() == wanted.casefold():
                return f
    return min(files, key=lambda f: f.path) if files else None


def families(fonts: Iterable[FontRecord]) -> list[str]:
    """The distinct family names of some records, sorted."""
    return sorted({f.family for f in fonts})


# PDF standard fonts by family: (regular, bold). No file; WinAnsi glyphs only.
STANDARD_FAMILIES: dict[str, tuple[str, str]] = {
    "Helvetica": ("Helvetica", "Helvetica-Bold"),
    "Times": ("Times-Roman", "Times-Bold"),
    "Courier": ("Courier", "Courier-Bold"),
}


def package_font(package: str, filename: str) -> str:
    """Path of ``files/<filename>`` in a font package (e.g. ``fontpkg_sarabun``).

    Raises :class:`FontNotFoundError` naming the pip package when it is not installed."""
    try:
        path = importlib.resources.files(package) / "files" / filename
    except ModuleNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise FontNotFoundError(
            f"font {filename} not found in the package {package}: pip install {package.replace('_', '-')}"
        )
    return str(path)


def font_checksums(files: dict[str, str]) -> dict[str, str]:
    """{key: first 16 hex digits of the file's SHA-256}, sorted by key: what a dataset spec records
    so that the same options with other font files cannot pass for the same dataset."""
    return {key: hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16] for key, path in sorted(files.items())}
