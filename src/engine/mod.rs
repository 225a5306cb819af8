//! The protocol engine (placeholder, being written).
#![forbid(unsafe_code)]
