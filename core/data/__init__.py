"""Datasets as numpy arrays: one split, one normalisation and one order for both frameworks."""

from core.data.prepare import PreparedData, load_prepared, prepare_dataset
from core.data.registry import BUILTIN_DATASETS, validate_dataset_name

__all__ = ["BUILTIN_DATASETS", "PreparedData", "load_prepared", "prepare_dataset", "validate_dataset_name"]
