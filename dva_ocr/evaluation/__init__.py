"""Evaluation of OCR models on labelled data (ICDAR layouts): parsing, metrics and the runner.

``load_dataset(path)`` -> ``Dataset``; ``evaluate(engine, dataset)`` -> a JSON-ready report.
Importing this package loads no model.
"""

from dva_ocr.evaluation.datasets import Dataset, DatasetError, load_dataset
from dva_ocr.evaluation.lines import read_lines
from dva_ocr.evaluation.runner import evaluate

__all__ = ["Dataset", "DatasetError", "evaluate", "load_dataset", "read_lines"]
