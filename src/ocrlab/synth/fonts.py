"""Discovery of fonts that can draw every character a Thai financial label may hold.

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
import os
import sys
from collections.abc import Iterable, Sequence
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

    @property
    def name(self) -> str:
        return f"{self.family} {self.style}"

    def to_dict(self) -> dict[str, str]:
        """What a manifest records: no absolute path, which differs between machines."""
        return {"family": self.family, "style": self.style, "filename": self.filename, "sha256": self.sha256}


def discover_fonts(
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    *,
    search_system: bool = True,
    chars: str | None = None,
) -> list[FontRecord]:
    """Fonts able to draw ``chars`` (default :func:`required_chars`), filtered by family.

    A font is kept only if its cmap maps every one of ``chars``. Thai-only fonts (e.g.
    ``fontpkg-noto-sans-thai``) lack digits and Latin letters, and Latin fonts lack Thai; a
    renderer would draw the missing characters as empty boxes ("tofu") while the label still
    says the characters are there, teaching the model wrong targets. So such fonts are excluded.

    ``include``/``exclude`` are family names compared case-insensitively (``exclude=["Kanit"]``
    holds Kanit out, e.g. for a test set of unseen fonts); an unknown name in either raises
    :class:`FontNotFoundError`, so a typo cannot silently hold nothing out. Files with the same
    bytes found twice are listed once. Returns the records in sorted order.
    """
    candidates = _scan(
        tuple(_candidate_paths(search_system)), chars if chars is not None else required_chars()
    )
    if not candidates:
        raise FontNotFoundError(
            f"no font that covers all {len(chars or required_chars())} required characters was found in the "
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


@functools.lru_cache(maxsize=8)
def _scan(paths: tuple[str, ...], chars: str) -> list[FontRecord]:
    """Parse each file once per process (~10 ms a font); unreadable files are skipped."""
    from fontTools.ttLib import TTFont, TTLibError

    needed = {ord(c) for c in chars}
    by_hash: dict[str, FontRecord] = {}
    for path in paths:
        try:
            sha256 = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            if sha256 in by_hash:
                continue
            font = TTFont(path, lazy=True)
            cmap = font.getBestCmap() or {}
            names = font["name"]
            # Typographic family/subfamily (IDs 16/17) group weights like "Sarabun Light"
            # under "Sarabun"; IDs 1/2 are the legacy fallbacks.
            family = names.getDebugName(16) or names.getDebugName(1)
            style = names.getDebugName(17) or names.getDebugName(2) or "Regular"
        except (TTLibError, KeyError, OSError, AssertionError):
            continue
        if family and needed <= cmap.keys():
            by_hash[sha256] = FontRecord(family, style, Path(path).name, path, sha256)
    return sorted(by_hash.values())


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
