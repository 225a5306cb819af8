//! Destination-unreachable errors for packets the daemon gives up on (behaviour.md §10.4).
//!
//! [`unreachable`] decides whether an error may be sent about a packet at all (RFC 4443 §2.4,
//! RFC 1812 §4.3.2.7) and builds the ICMP message the kernel then sends from a raw socket:
//! ICMPv6 type 1 code 0 with its checksum left to the kernel (it knows the source address it
//! picks), ICMP type 3 code 1 with its checksum filled in here. The quote is cut so that the
//! whole error fits the IPv6 minimum MTU of 1280 bytes, or 576 bytes for IPv4.

use super::checksum;
use super::field::{u8_at, u16_at};
use super::{ipv4, ipv6};
use std::net::IpAddr;

/// ICMPv6 and ICMP error header: type, code, checksum, four unused bytes.
pub const HEADER_LEN: usize = 8;
/// The most of the original packet an ICMPv6 error quotes: 1280 − 40 − 8.
pub const QUOTE_MAX_V6: usize = 1232;
/// The most of the original datagram an ICMP error quotes: 576 − 20 − 8.
pub const QUOTE_MAX_V4: usize = 548;

pub const ICMPV6_DEST_UNREACHABLE: u8 = 1;
pub const ICMPV6_NO_ROUTE: u8 = 0;
pub const ICMP_DEST_UNREACHABLE: u8 = 3;
pub const ICMP_HOST_UNREACHABLE: u8 = 1;

/// IPv6 extension headers that may stand between the fixed header and an ICMPv6 message.
const HOP_BY_HOP: u8 = 0;
const ROUTING: u8 = 43;
const FRAGMENT: u8 = 44;
const AUTHENTICATION: u8 = 51;
const DESTINATION_OPTIONS: u8 = 60;
/// More extension headers than any sane packet carries; past this the packet is not judged
/// and gets no error.
const MAX_EXTENSION_HEADERS: usize = 8;

/// ICMP (IPv4) types that are errors: never answered with an error.
const ICMP_ERROR_TYPES: [u8; 5] = [3, 4, 5, 11, 12];

/// The destination and bytes of the ICMP error about `packet`, or `None` when none may be
/// sent: an unparsable packet, an unspecified, multicast or broadcast source, an ICMP error,
/// or a non-initial fragment (whose upper layer cannot be seen, so it might be an error).
pub fn unreachable(packet: &[u8]) -> Option<(IpAddr, Vec<u8>)> {
    match u8_at(packet, 0) >> 4 {
        ipv6::VERSION => unreachable_v6(packet),
        ipv4::VERSION => unreachable_v4(packet),
        _ => None,
    }
}

fn unreachable_v6(bytes: &[u8]) -> Option<(IpAddr, Vec<u8>)> {
    let packet = ipv6::Packet::new_checked(bytes).ok()?;
    let src = packet.src_addr();
    if src.is_unspecified() || src.is_multicast() {
        return None;
    }
    if !may_answer_v6(packet.next_header(), packet.payload()) {
        return None;
    }
    let whole = bytes.get(..ipv6::HEADER_LEN + packet.payload().len())?;
    let quote = &whole[..whole.len().min(QUOTE_MAX_V6)];
    let mut message = Vec::with_capacity(HEADER_LEN + quote.len());
    message.extend_from_slice(&[ICMPV6_DEST_UNREACHABLE, ICMPV6_NO_ROUTE, 0, 0, 0, 0, 0, 0]);
    message.extend_from_slice(quote);
    Some((IpAddr::V6(src), message))
}

/// Walks the extension headers to the upper layer: no error about an ICMPv6 error or a
/// non-initial fragment, nor about a chain too long or cut short to judge.
fn may_answer_v6(first: u8, payload: &[u8]) -> bool {
    let mut next = first;
    let mut at = 0usize;
    for _ in 0..MAX_EXTENSION_HEADERS {
        if at >= payload.len() && next != ipv6::NEXT_HEADER_ICMPV6 {
            // Nothing after the headers (e.g. next header 59): not an error message.
            return at == payload.len();
        }
        match next {
            ipv6::NEXT_HEADER_ICMPV6 => {
                return payload.get(at).is_some_and(|kind| *kind >= 128);
            }
            HOP_BY_HOP | ROUTING | DESTINATION_OPTIONS => {
                let Some(len_units) = payload.get(at + 1) else {
                    return false;
                };
                next = u8_at(payload, at);
                at += (usize::from(*len_units) + 1) * 8;
            }
            AUTHENTICATION => {
                let Some(len_units) = payload.get(at + 1) else {
                    return false;
                };
                next = u8_at(payload, at);
                at += (usize::from(*len_units) + 2) * 4;
            }
            FRAGMENT => {
                if payload.len() < at + 8 {
                    return false;
                }
                if u16_at(payload, at + 2) >> 3 != 0 {
                    return false;
                }
                next = u8_at(payload, at);
                at += 8;
            }
            _ => return true,
        }
    }
    false
}

fn unreachable_v4(bytes: &[u8]) -> Option<(IpAddr, Vec<u8>)> {
    let packet = ipv4::Packet::new_checked(bytes).ok()?;
    let src = packet.src_addr();
    if src.is_unspecified() || src.is_multicast() || src.is_broadcast() {
        return None;
    }
    if packet.fragment_offset() != 0 {
        return None;
    }
    if packet.protocol() == ipv4::PROTOCOL_ICMP {
        let kind = packet.payload().first()?;
        if ICMP_ERROR_TYPES.contains(kind) {
            return None;
        }
    }
    let whole = bytes.get(..usize::from(packet.total_len()))?;
    let quote = &whole[..whole.len().min(QUOTE_MAX_V4)];
    let mut message = Vec::with_capacity(HEADER_LEN + quote.len());
    message.extend_from_slice(&[
        ICMP_DEST_UNREACHABLE,
        ICMP_HOST_UNREACHABLE,
        0,
        0,
        0,
        0,
        0,
        0,
    ]);
    message.extend_from_slice(quote);
    let sum = checksum::plain(&message).to_be_bytes();
    message[2..4].copy_from_slice(&sum);
    Some((IpAddr::V4(src), message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const SRC6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 2);
    const DST6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x100);
    const SRC4: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
    const DST4: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 100);

    fn v6(src: Ipv6Addr, next_header: u8, payload: &[u8]) -> Vec<u8> {
        ipv6::Repr {
            traffic_class: 0,
            flow_label: 0,
            payload_len: u16::try_from(payload.len()).unwrap(),
            next_header,
            hop_limit: 63,
            src,
            dst: DST6,
        }
        .to_bytes()
        .into_iter()
        .chain(payload.iter().copied())
        .collect()
    }

    fn v4(src: Ipv4Addr, protocol: u8, flags_fragment: u16, payload: &[u8]) -> Vec<u8> {
        let mut packet = ipv4::Repr {
            dscp_ecn: 0,
            total_len: u16::try_from(20 + payload.len()).unwrap(),
            ident: 7,
            flags_fragment,
            ttl: 63,
            protocol,
            src,
            dst: DST4,
            options: Vec::new(),
        }
        .to_bytes();
        packet.extend_from_slice(payload);
        packet
    }

    const UDP: u8 = 17;
    const ECHO_REQUEST_V6: [u8; 8] = [128, 0, 0, 0, 0, 1, 0, 1];

    #[test]
    fn an_echo_request_gets_no_route_to_its_source_with_the_whole_packet_quoted() {
        let packet = v6(SRC6, ipv6::NEXT_HEADER_ICMPV6, &ECHO_REQUEST_V6);
        let (dst, message) = unreachable(&packet).expect("an error");
        assert_eq!(dst, IpAddr::V6(SRC6));
        assert_eq!(&message[..8], &[1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&message[8..], &packet[..]);
    }

    #[test]
    fn a_large_v6_packet_is_quoted_so_that_the_error_fits_1280_bytes() {
        let packet = v6(SRC6, UDP, &[0xab; 8952]);
        let (_, message) = unreachable(&packet).expect("an error");
        assert_eq!(ipv6::HEADER_LEN + message.len(), 1280);
        assert_eq!(&message[8..], &packet[..1232]);
    }

    #[test]
    fn no_v6_error_about_errors_fragments_or_odd_sources() {
        let error = [1u8, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            unreachable(&v6(SRC6, ipv6::NEXT_HEADER_ICMPV6, &error)),
            None
        );
        assert_eq!(unreachable(&v6(Ipv6Addr::UNSPECIFIED, UDP, &[0; 8])), None);
        let group = "ff02::1".parse().unwrap();
        assert_eq!(unreachable(&v6(group, UDP, &[0; 8])), None);
        // An error behind a destination-options header is still an error.
        let mut behind_options = vec![ipv6::NEXT_HEADER_ICMPV6, 0, 1, 4, 0, 0, 0, 0];
        behind_options.extend_from_slice(&error);
        assert_eq!(
            unreachable(&v6(SRC6, DESTINATION_OPTIONS, &behind_options)),
            None
        );
        // A non-initial fragment: its upper layer is not in it.
        let later_fragment = [UDP, 0, 0x00, 0x08, 0, 0, 0, 1, 0xaa, 0xbb];
        assert_eq!(unreachable(&v6(SRC6, FRAGMENT, &later_fragment)), None);
        // The first fragment of an echo request is answered.
        let mut first_fragment = vec![ipv6::NEXT_HEADER_ICMPV6, 0, 0x00, 0x01, 0, 0, 0, 1];
        first_fragment.extend_from_slice(&ECHO_REQUEST_V6);
        assert!(unreachable(&v6(SRC6, FRAGMENT, &first_fragment)).is_some());
        // A chain cut short cannot be judged.
        assert_eq!(unreachable(&v6(SRC6, HOP_BY_HOP, &[ROUTING])), None);
        assert_eq!(
            unreachable(&v6(
                SRC6,
                HOP_BY_HOP,
                &[HOP_BY_HOP, 0, 0, 0, 0, 0, 0, 0].repeat(9)
            )),
            None
        );
    }

    #[test]
    fn a_v4_datagram_gets_host_unreachable_with_a_valid_checksum() {
        let packet = v4(SRC4, UDP, 0, &[1, 2, 3, 4, 5, 6, 7, 8]);
        let (dst, message) = unreachable(&packet).expect("an error");
        assert_eq!(dst, IpAddr::V4(SRC4));
        assert_eq!(&message[..2], &[3, 1]);
        assert_eq!(checksum::sum(&message), 0xffff, "checksum verifies");
        assert_eq!(&message[8..], &packet[..]);
    }

    #[test]
    fn a_large_v4_datagram_is_quoted_so_that_the_error_fits_576_bytes() {
        let packet = v4(SRC4, UDP, 0, &[0xcd; 1480]);
        let (_, message) = unreachable(&packet).expect("an error");
        assert_eq!(ipv4::MIN_HEADER_LEN + message.len(), 576);
        assert_eq!(&message[8..], &packet[..548]);
        assert_eq!(checksum::sum(&message), 0xffff);
    }

    #[test]
    fn no_v4_error_about_errors_fragments_or_odd_sources() {
        let echo_request = [8u8, 0, 0, 0, 0, 1, 0, 1];
        assert!(unreachable(&v4(SRC4, ipv4::PROTOCOL_ICMP, 0, &echo_request)).is_some());
        for kind in ICMP_ERROR_TYPES {
            let error = [kind, 0, 0, 0, 0, 0, 0, 0];
            assert_eq!(unreachable(&v4(SRC4, ipv4::PROTOCOL_ICMP, 0, &error)), None);
        }
        assert_eq!(
            unreachable(&v4(SRC4, UDP, 0x0001, &[0; 8])),
            None,
            "offset 8"
        );
        assert!(
            unreachable(&v4(SRC4, UDP, 0x2000, &[0; 8])).is_some(),
            "first of several"
        );
        for src in [
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST,
            Ipv4Addr::new(224, 0, 0, 1),
        ] {
            assert_eq!(unreachable(&v4(src, UDP, 0, &[0; 8])), None, "{src}");
        }
    }

    #[test]
    fn garbage_gets_no_error() {
        for bytes in [&[][..], &[0x60][..], &[0x45, 0, 0, 10][..], &[0x10; 60][..]] {
            assert_eq!(unreachable(bytes), None);
        }
    }
}
