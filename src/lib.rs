//! l3roamd: layer-3 roaming for Babel meshes.
//!
//! The crate is split so that everything that decides lives apart from everything that
//! touches the system:
//!
//! - [`wire`]: byte formats (intercom, NDP, ARP, IP headers). No unsafe; never panics on input.
//! - [`engine`]: the protocol as a sans-IO state machine. It is driven with an explicit `now`
//!   and a seeded PRNG, never reads a clock, a descriptor or the OS random source, and gives
//!   the same outputs for the same seed and inputs.
//! - [`config`]: the command line, parsed without side effects.
#![deny(unsafe_code)]

pub mod config;
pub mod driver;
pub mod engine;
pub mod prefix;
pub mod slot_map;
pub mod sys;
pub mod time;
pub mod wire;

/// The version string shown by `-V`: the package version and, when built from git, the
/// `git describe` of the checkout.
pub const VERSION: &str = env!("L3ROAMD_VERSION");
