//! Availability maths (in progress).
