"""Evaluation of OCR models on labelled data (ICDAR layouts): parsing, metrics and the runner.

``load_dataset(path)`` -> ``Dataset``; ``evaluate_dataset(engine, dataset)`` -> a JSON-ready report.
Crops are read with ``engine.read_lines`` (the recogniser alone). Importing this package loads no model.
"""

from dva_ocr.evaluation.datasets import Dataset, DatasetError, load_dataset
from dva_ocr.evaluation.runner import evaluate_dataset

__all__ = ["Dataset", "DatasetError", "evaluate_dataset", "load_dataset"]
