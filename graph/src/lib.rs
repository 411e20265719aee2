//! The relationship graph index and impact analysis (being written).
