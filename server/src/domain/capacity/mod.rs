//! Capacity maths (in progress).
