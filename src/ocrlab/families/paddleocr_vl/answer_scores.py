"""The metric set of generated answers: an epoch's metrics and the test report's files and tables
(written by the shared ``TestReports`` callback)."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from ocrlab import plots
from ocrlab.reports import Figure, Report, Table


def answer_metrics(records: list[dict], texts: list[tuple[str, str]], seconds: float, tokens: int,
                   prefix: str) -> dict[str, float]:
    """Extraction scores of the scored ``records`` (:class:`ExtractionScorer`), the CER of the
    text-crop answers (``texts``: prediction, truth), and the generation speed."""
    from ocrlab.families.paddleocr_vl.extraction import ExtractionScorer
    from ocrlab.metrics.text import line_cer

    out: dict[str, float] = {}
    if records:
        scorer = ExtractionScorer.from_records(records)
        out.update({f"{prefix}{k}": float(v) for k, v in scorer.compute().items()})
    if texts:
        out[f"{prefix}ocr_cer"] = sum(line_cer(p, t) for p, t in texts) / len(texts)
        out.setdefault(f"{prefix}overall_score", 1.0 - min(1.0, out[f"{prefix}ocr_cer"]))
    out[f"{prefix}generated_tokens_per_s"] = tokens / seconds if seconds else 0.0
    return out


def extraction_report(records: list[dict], quantization: dict[str, Any] | None = None) -> Report:
    """``extraction_report.json`` (metrics, breakdowns per field / hard kind / locale / currency,
    per-document errors; the quantization the scores were made with); tables of the answers (page
    image, prediction, truth, errors) and of each breakdown."""
    from ocrlab.families.paddleocr_vl.extraction import ExtractionScorer

    report = ExtractionScorer.from_records(records).report()
    if quantization is not None:  # the scores are the quantized model's
        report["quantization"] = quantization
    answers = Table(["image", "id", "task", "prediction", "truth", "errors"],
                    [[r.get("image"), r["id"], r["task"], r["prediction"], json.dumps(r.get("truth"), ensure_ascii=False),
                      ", ".join(sorted(r["errors"]))] for r in records], image_columns=("image",))
    tables = {"test/answers": answers}
    figures = {}
    for name, table in report["breakdown"].items():  # per field, group, task, hard kind, locale, currency
        columns = list(dict.fromkeys(k for values in table.values() for k in values))
        tables[f"test/by_{name}"] = Table([name, *columns],
                                          [[key, *(values.get(c) for c in columns)] for key, values in table.items()])
        score = next((c for c in ("accuracy", "field_accuracy") if c in columns), None)
        if score and table:
            keys = list(table)
            figures[f"{score}_by_{name}.png"] = Figure(f"test/{score}_by_{name}", partial(
                plots.bars, labels=[str(k) for k in keys], values=[float(table[k].get(score) or 0.0) for k in keys],
                title=f"test {score} by {name}", xlabel=name, ylabel=score))
    return Report(files={"extraction_report.json": report}, tables=tables, figures=figures)
