"""Synthetic data generation: Thai text lines, financial documents, business documents.

Import the submodules you need; this package imports nothing heavy on its own, so
``ocrlab-synth --help`` stays fast.

* :mod:`ocrlab.synth.degrade`: scan/photo degradations for any image (:class:`Degrader`).
* :mod:`ocrlab.synth.fonts`: Thai-capable font discovery, fallbacks for Thai-only faces (:func:`discover_fonts`).
* :mod:`ocrlab.synth.line_render`: drawing one line (a face and its fallback, the line style effects).
* :mod:`ocrlab.synth.text_sources`: Thai financial text lines (:class:`ThaiLineTextSampler`).
* :mod:`ocrlab.synth.thai_lines`: line rendering and PaddleOCR-format datasets
  (:func:`generate_thai_lines` / :func:`ensure_thai_lines`).
* :mod:`ocrlab.synth.dataset`: the one dataset writer of every generator (:func:`write_dataset`,
  :func:`verify_dataset`).
* :mod:`ocrlab.synth.invoices`, :mod:`ocrlab.synth.business_docs`: the document generators
  (packages; their ``schema`` modules are light).
* :mod:`ocrlab.synth.cli`: the ``ocrlab-synth`` command.
"""
