//! loom models (built with `--cfg loom`).
