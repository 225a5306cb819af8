//! The protocol engine (placeholder, being written).
#![forbid(unsafe_code)]

pub mod control;
