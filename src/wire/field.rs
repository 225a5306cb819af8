//! Total accessors for fixed-offset fields.
//!
//! Every view checks its buffer's length once, in `new_checked`; after that a field read
//! cannot fail. These helpers still never index, so that a mistake in an offset constant
//! shows up as a wrong value in a test rather than as a panic on someone's router.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::MacAddr;

/// `N` bytes at `at`, or zeros when the buffer is too short.
pub(crate) fn array<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    at.checked_add(N)
        .and_then(|end| buf.get(at..end))
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .unwrap_or([0; N])
}

pub(crate) fn u8_at(buf: &[u8], at: usize) -> u8 {
    buf.get(at).copied().unwrap_or(0)
}

pub(crate) fn u16_at(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(array(buf, at))
}

pub(crate) fn u32_at(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(array(buf, at))
}

pub(crate) fn mac_at(buf: &[u8], at: usize) -> MacAddr {
    MacAddr(array(buf, at))
}

pub(crate) fn ipv4_at(buf: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::from(array::<4>(buf, at))
}

pub(crate) fn ipv6_at(buf: &[u8], at: usize) -> Ipv6Addr {
    Ipv6Addr::from(array::<16>(buf, at))
}

/// Writes `bytes` at `at`. Emitters size their buffers with `buffer_len()`; a write that
/// would not fit is skipped instead of panicking (and caught by `debug_assert` in emitters).
pub(crate) fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = at
        .checked_add(bytes.len())
        .and_then(|end| buf.get_mut(at..end))
    {
        dst.copy_from_slice(bytes);
    }
}

pub(crate) fn put_u8(buf: &mut [u8], at: usize, value: u8) {
    put(buf, at, &[value]);
}

pub(crate) fn put_u16(buf: &mut [u8], at: usize, value: u16) {
    put(buf, at, &value.to_be_bytes());
}

pub(crate) fn put_u32(buf: &mut [u8], at: usize, value: u32) {
    put(buf, at, &value.to_be_bytes());
}

/// The bytes from `start` to the end, or nothing.
pub(crate) fn rest(buf: &[u8], start: usize) -> &[u8] {
    buf.get(start..).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_end_are_zero_and_writes_are_skipped() {
        let mut buf = [1u8, 2, 3];
        assert_eq!(array::<2>(&buf, 1), [2, 3]);
        assert_eq!(array::<2>(&buf, 2), [0, 0]);
        assert_eq!(array::<2>(&buf, usize::MAX), [0, 0]);
        assert_eq!(u16_at(&buf, 0), 0x0102);
        put(&mut buf, 2, &[9, 9]);
        assert_eq!(buf, [1, 2, 3]);
        put(&mut buf, usize::MAX, &[9]);
        put_u16(&mut buf, 1, 0xabcd);
        assert_eq!(buf, [1, 0xab, 0xcd]);
        assert_eq!(rest(&buf, 5), &[] as &[u8]);
    }
}
