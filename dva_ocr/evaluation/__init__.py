"""Evaluation of OCR models on labelled data (ICDAR layouts): parsing, metrics and the runner.

``load_dataset(path)`` -> ``Dataset``; ``evaluate_dataset(engine, dataset)`` -> a JSON-ready report.
Crops are read with ``engine.read_lines`` (the recogniser alone). Importing this package loads no model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dva_ocr.evaluation.datasets import Dataset, DatasetError, load_dataset

if TYPE_CHECKING:
    from dva_ocr.evaluation.runner import evaluate_dataset

__all__ = ["Dataset", "DatasetError", "evaluate_dataset", "load_dataset"]


def __getattr__(name: str) -> Any:
    """The runner (metrics, shapely) is imported when first asked for, so the CLI's parser, which
    needs only the dataset layouts, stays light (start-up time)."""
    if name == "evaluate_dataset":
        from dva_ocr.evaluation.runner import evaluate_dataset

        return evaluate_dataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
