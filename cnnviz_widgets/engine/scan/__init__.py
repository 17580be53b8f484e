"""Dataset scans: one pass over a dataset recording, for every requested layer at once, each channel's top-k items,
pooled feature vectors and the model's predictions; cached on disk, resumable, and shardable across Ray."""

from .scan import Scan, latest_scan, scan, scan_steps
from .sources import Source, as_source
from .topk import TopK

__all__ = ["Scan", "Source", "TopK", "as_source", "latest_scan", "scan", "scan_steps"]
