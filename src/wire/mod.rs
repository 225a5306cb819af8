//! Wire formats: the intercom protocol, the client-side frames the daemon reads and writes,
//! and the lines of babeld's local interface.
//!
//! Contract, for every format in here: parsing untrusted bytes never panics, never loops
//! without consuming input and never allocates more than the input's size justifies; a
//! malformed packet is an `Err`, never a partially filled value. Each format has a checked
//! view over a byte buffer and an owned `Repr` with `parse`, `buffer_len` and `emit`.
//! Nothing in here reads a clock or touches the operating system.
#![forbid(unsafe_code)]

pub mod arp;
pub mod auth;
pub mod babel;
pub mod checksum;
mod error;
pub mod ethernet;
mod field;
pub mod icmp_error;
pub mod icmpv6;
pub mod intercom;
pub mod ipv4;
pub mod ipv6;
pub mod mac;

pub use error::Error;
pub use ethernet::EtherType;
pub use icmpv6::{Ndp, NeighborAdvert, NeighborSolicit};
pub use intercom::{Header, Info, Message, MessageType};
pub use mac::MacAddr;
