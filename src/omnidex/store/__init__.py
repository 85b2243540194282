"""LanceDB storage: one table per vector space, a files table and a write-ahead journal."""
from .lance import SEGMENT_FIELDS, EncoderSpec, Store, sql_str

__all__ = ["SEGMENT_FIELDS", "EncoderSpec", "Store", "sql_str"]
