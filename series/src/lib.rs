//! Compressed time-series blocks and rollups (work in progress).
