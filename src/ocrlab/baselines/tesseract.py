"""Tesseract as a line recognizer (``tha+eng``, page segmentation mode 7, one thread).

Runs the ``tesseract`` binary directly (PNG on stdin, text on stdout): no temp files, and the
thread limit is set for the child only. Output is normalized with the shared
:func:`~ocrlab.text.normalize_text` (which also joins Tesseract's NIKHAHIT + SARA AA into SARA AM).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from ocrlab.text.normalize import normalize_text


class TesseractUnavailable(RuntimeError):
    """The binary or a language pack is missing."""


class TesseractRecognizer:
    """A baseline for text-line models (``task`` must match the evaluated model's)."""

    name = "tesseract"
    task = "text_lines"

    def __init__(self, lang: str = "tha+eng", psm: int = 7, threads: int = 1, binary: str = "tesseract",
                 timeout_s: float = 30.0):
        path = shutil.which(binary)
        if path is None:
            raise TesseractUnavailable(
                f"tesseract binary {binary!r} not found on PATH; install it "
                "(Debian: apt-get install tesseract-ocr tesseract-ocr-tha tesseract-ocr-eng)"
            )
        self.binary = path
        self.lang = lang
        self.psm = psm
        self.timeout_s = timeout_s
        self.env = {**os.environ, "OMP_THREAD_LIMIT": str(threads)}
        available = set(self.languages())
        missing = [lang_ for lang_ in lang.split("+") if lang_ not in available]
        if missing:
            raise TesseractUnavailable(
                f"tesseract has no language data for {missing} (has {sorted(available)}); "
                f"install e.g. tesseract-ocr-{missing[0]}"
            )

    def languages(self) -> list[str]:
        out = subprocess.run([self.binary, "--list-langs"], capture_output=True, text=True, env=self.env, check=True)
        return [line.strip() for line in out.stdout.splitlines()[1:] if line.strip()]

    def version(self) -> str:
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True, env=self.env, check=True)
        return (out.stdout or out.stderr).splitlines()[0]

    def recognize_one(self, image: Image.Image | str | Path) -> str:
        pil = image if isinstance(image, Image.Image) else Image.open(image)
        buf = io.BytesIO()
        pil.convert("RGB").save(buf, format="PNG")
        proc = subprocess.run(
            [self.binary, "stdin", "stdout", "-l", self.lang, "--psm", str(self.psm)],
            input=buf.getvalue(), capture_output=True, env=self.env, timeout=self.timeout_s, check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"tesseract failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[:500]}")
        return normalize_text(proc.stdout.decode("utf-8", errors="replace"))

    def recognize(self, images: Sequence[Image.Image | str | Path]) -> list[str]:
        """Many lines in one ``tesseract`` process (a list file; pages come back separated by form
        feeds): what Tesseract itself costs, without a process start per line."""
        if not images:
            return []
        with tempfile.TemporaryDirectory(prefix="ocrlab-tesseract-") as tmp:
            paths = []
            for i, im in enumerate(images):
                if isinstance(im, Image.Image):
                    path = Path(tmp) / f"{i:06d}.png"
                    im.convert("RGB").save(path)
                    im = path
                paths.append(str(Path(im).resolve()))
            listing = Path(tmp) / "images.txt"
            listing.write_text("".join(f"{p}\n" for p in paths), encoding="utf-8")
            proc = subprocess.run(
                [self.binary, str(listing), "stdout", "-l", self.lang, "--psm", str(self.psm)],
                capture_output=True, env=self.env, timeout=self.timeout_s * len(paths), check=False,
            )
        pages = proc.stdout.decode("utf-8", errors="replace").split("\f")
        if proc.returncode != 0 or len(pages) < len(images):
            # cannot tell which page is which: fall back to one process per line
            return [self.recognize_one(im) for im in images]
        return [normalize_text(p) for p in pages[: len(images)]]
