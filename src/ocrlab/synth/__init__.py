"""Synthetic data generation: Thai text lines, financial documents, business documents.

Import the submodules you need; this package imports nothing heavy on its own, so
``ocrlab-synth --help`` stays fast.

* :mod:`ocrlab.synth.degrade`: scan/photo degradations for any image (:class:`Degrader`).
* :mod:`ocrlab.synth.fonts`: Thai-capable font discovery (:func:`discover_fonts`).
* :mod:`ocrlab.synth.text_sources`: Thai financial text lines (:class:`ThaiLineTextSampler`).
* :mod:`ocrlab.synth.thai_lines`: line rendering and PaddleOCR-format datasets
  (:func:`render_line`, :func:`generate_thai_lines` / :func:`ensure_thai_lines`).
* :mod:`ocrlab.synth.dataset`: the one dataset writer of every generator (:func:`write_dataset`,
  :func:`verify_dataset`).
* :mod:`ocrlab.synth.invoices`, :mod:`ocrlab.synth.business_docs`: the document generators
  (packages; their ``schema`` modules are light).
* :mod:`ocrlab.synth.cli`: the ``ocrlab-synth`` command.
"""
