//! The Internet checksum (RFC 1071), shared by the IPv4 header, ICMP and ICMPv6.
//!
//! Partial sums are folded 16-bit one's complement sums, not yet inverted, so that the
//! pseudo-header and the message can be summed separately and combined.

use std::net::Ipv6Addr;

/// Whether a parser should verify a checksum it can see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Verify,
    /// For packets the kernel has already checked (read from a tun or a raw socket).
    Ignore,
}

/// The folded one's complement sum of `data`, read as big-endian 16-bit words; an odd final
/// byte is padded with a zero byte on the right.
pub fn sum(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(2);
    for word in &mut words {
        acc += u64::from(u16::from_be_bytes([
            word.first().copied().unwrap_or(0),
            word.get(1).copied().unwrap_or(0),
        ]));
    }
    if let Some(&last) = words.remainder().first() {
        acc += u64::from(last) << 8;
    }
    fold(acc)
}

/// One's complement addition of partial sums.
pub fn combine(parts: &[u16]) -> u16 {
    fold(parts.iter().map(|&p| u64::from(p)).sum())
}

fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    // The loop leaves at most 0xffff, so the conversion is exact.
    u16::try_from(acc).unwrap_or(0xffff)
}

/// The partial sum of the IPv6 pseudo-header (RFC 8200 §8.1) for an upper-layer message of
/// `length` bytes.
pub fn pseudo_header_v6(src: &Ipv6Addr, dst: &Ipv6Addr, next_header: u8, length: u32) -> u16 {
    combine(&[
        sum(&src.octets()),
        sum(&dst.octets()),
        sum(&length.to_be_bytes()),
        u16::from(next_header),
    ])
}

/// The value to store in the checksum field of an upper-layer message over IPv6 whose
/// checksum field currently holds zero. `None` if the message is too long for the
/// pseudo-header's 32-bit length.
pub fn upper_layer_v6(
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
    next_header: u8,
    message: &[u8],
) -> Option<u16> {
    let length = u32::try_from(message.len()).ok()?;
    Some(!combine(&[
        pseudo_header_v6(src, dst, next_header, length),
        sum(message),
    ]))
}

/// Whether an upper-layer message over IPv6, checksum field included, verifies.
pub fn verify_upper_layer_v6(
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
    next_header: u8,
    message: &[u8],
) -> bool {
    let Ok(length) = u32::try_from(message.len()) else {
        return false;
    };
    combine(&[
        pseudo_header_v6(src, dst, next_header, length),
        sum(message),
    ]) == 0xffff
}

/// The checksum of a header or message without pseudo-header (IPv4 header, ICMPv4) whose
/// checksum field currently holds zero.
pub fn plain(data: &[u8]) -> u16 {
    !sum(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
        assert_eq!(plain(&data), 0x220d);
        // Summing in two parts, at an even boundary, gives the same result.
        assert_eq!(combine(&[sum(&data[..4]), sum(&data[4..])]), 0xddf2);
    }

    #[test]
    fn odd_length_pads_on_the_right() {
        assert_eq!(sum(&[0x12]), 0x1200);
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x6834);
        assert_eq!(sum(&[]), 0);
    }

    #[test]
    fn ipv4_header_known_answer() {
        // A well-known sample header: 192.168.0.1 -> 192.168.0.199, UDP, checksum b861.
        let mut header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(plain(&header), 0xb861);
        header[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(sum(&header), 0xffff);
    }

    #[test]
    fn neighbour_solicitation_known_answer() {
        // A Neighbour Solicitation the Linux kernel sent in the captured vectors
        // (exp1-a-mesh0.pcap frame 4): fe80::b -> ff02::1:ff00:a, target fe80::a, source
        // link-layer option 02:00:00:00:0b:00. The kernel wrote checksum 6f7e.
        let src: Ipv6Addr = "fe80::b".parse().unwrap();
        let dst: Ipv6Addr = "ff02::1:ff00:a".parse().unwrap();
        let mut message = [
            0x87, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0x0a, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x0b, 0x00,
        ];
        assert_eq!(upper_layer_v6(&src, &dst, 58, &message), Some(0x6f7e));
        assert!(!verify_upper_layer_v6(&src, &dst, 58, &message));
        message[2..4].copy_from_slice(&[0x6f, 0x7e]);
        assert!(verify_upper_layer_v6(&src, &dst, 58, &message));
        // Hand check of the same value: the pseudo-header contributes
        // fe80 + 000b + ff02 + 0001 + ff00 + 000a + 0020 + 003a and the message
        // 8700 + fe80 + 000a + 0101 + 0200 + 0000 + 0b00; folded that is 9081, inverted 6f7e.
        assert_eq!(
            combine(&[
                0xfe80, 0x000b, 0xff02, 0x0001, 0xff00, 0x000a, 0x0020, 0x003a, 0x8700, 0xfe80,
                0x000a, 0x0101, 0x0200, 0x0b00
            ]),
            0x9081
        );
    }
}
