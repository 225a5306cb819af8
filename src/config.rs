//! The command line (placeholder, being written).
