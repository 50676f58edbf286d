//! Metrics snapshots (filled in by the metrics work).
