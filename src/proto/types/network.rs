//! `inet` and `cidr`: an IP address with a netmask length.
//!
//! The binary form comes from `postgres_protocol::types`. Text output follows Postgres'
//! `inet_net_ntop`, which differs from Rust's `Ipv6Addr` display: it writes `::1.2.3.4` for
//! IPv4-compatible addresses (and `::ffff:1.2.3.4` for mapped ones), so it is ported here.

use std::fmt::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::BytesMut;
use postgres_protocol::types as pp;

use crate::error::{Error, Result};

/// An `inet` or `cidr` value: an address and its netmask length in bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Inet {
    /// The address (for a `cidr`, the network address).
    pub addr: IpAddr,
    /// The netmask length: at most 32 for IPv4, 128 for IPv6.
    pub netmask: u8,
}

impl fmt::Display for Inet {
    /// The `inet` form: `10.0.0.1`, `10.0.0.0/8`, `2001:db8::1/64` (the netmask is shown
    /// unless it covers the whole address).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt(self, false, f)
    }
}

/// Parses `inet`/`cidr` text: an IPv4 or IPv6 address and an optional `/bits` (without it,
/// the whole address).
pub(super) fn parse(text: &str, cidr: bool) -> Result<Inet> {
    let invalid = || {
        let name = if cidr { "cidr" } else { "inet" };
        Error::decode(format!("invalid {name} value in text format"))
    };
    let (addr, bits) = match text.split_once('/') {
        Some((addr, bits)) => (addr, Some(bits)),
        None => (text, None),
    };
    let addr = match addr.contains(':') {
        true => IpAddr::V6(addr.parse::<Ipv6Addr>().map_err(|_| invalid())?),
        false => IpAddr::V4(addr.parse::<Ipv4Addr>().map_err(|_| invalid())?),
    };
    let netmask = match bits {
        Some(bits) if !bits.is_empty() && bits.bytes().all(|b| b.is_ascii_digit()) => {
            bits.parse::<u8>().map_err(|_| invalid())?
        }
        Some(_) => return Err(invalid()),
        None => max_bits(addr),
    };
    if netmask > max_bits(addr) {
        return Err(invalid());
    }
    Ok(Inet { addr, netmask })
}

/// Decodes the binary form (family, bits, is_cidr, length, address bytes).
pub(super) fn decode_binary(raw: &[u8]) -> Result<Inet> {
    let inet = pp::inet_from_sql(raw)
        .map_err(|e| Error::decode(format!("invalid inet value in binary format: {e}")))?;
    Ok(Inet {
        addr: inet.addr(),
        netmask: inet.netmask(),
    })
}

/// Encodes the binary form, flagging a `cidr` as the server does.
pub(super) fn encode_binary(inet: &Inet, cidr: bool, buf: &mut BytesMut) -> Result<()> {
    if inet.netmask > max_bits(inet.addr) {
        return Err(Error::encode(format!(
            "netmask /{} is too long for the address {}",
            inet.netmask, inet.addr
        )));
    }
    let start = buf.len();
    pp::inet_to_sql(inet.addr, inet.netmask, buf);
    if let Some(is_cidr) = buf.get_mut(start + 2) {
        *is_cidr = u8::from(cidr);
    }
    Ok(())
}

/// Prints as Postgres' network_out: `cidr` always shows `/bits`, `inet` only when shorter
/// than the address.
pub(super) fn fmt(inet: &Inet, cidr: bool, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match inet.addr {
        IpAddr::V4(addr) => write!(f, "{addr}")?,
        IpAddr::V6(addr) => fmt_ipv6(&addr.octets(), f)?,
    }
    if cidr || inet.netmask != max_bits(inet.addr) {
        write!(f, "/{}", inet.netmask)?;
    }
    Ok(())
}

fn max_bits(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// A port of inet_net_ntop_ipv6: the first longest run of two or more zero words becomes
/// `::`; an address that starts with six zero words (or five and `ffff`) ends in dotted IPv4.
fn fmt_ipv6(octets: &[u8; 16], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let mut words = [0u16; 8];
    for (word, pair) in words.iter_mut().zip(octets.chunks_exact(2)) {
        *word = u16::from_be_bytes([pair[0], pair[1]]);
    }
    // (start, length) of the longest run of zero words; the first one wins a tie.
    let mut best: Option<(usize, usize)> = None;
    let mut current: Option<(usize, usize)> = None;
    for (i, &word) in words.iter().enumerate() {
        if word == 0 {
            current = Some(current.map_or((i, 1), |(start, len)| (start, len + 1)));
        } else if let Some(run) = current.take() {
            best = longer(best, run);
        }
    }
    if let Some(run) = current {
        best = longer(best, run);
    }
    let best = best.filter(|&(_, len)| len >= 2);
    for (i, &word) in words.iter().enumerate() {
        if let Some((start, len)) = best
            && (start..start + len).contains(&i)
        {
            if i == start {
                f.write_char(':')?;
            }
            continue;
        }
        if i != 0 {
            f.write_char(':')?;
        }
        let embeds_ipv4 = match best {
            Some((0, 6)) => true,
            Some((0, 7)) => words[7] != 1,
            Some((0, 5)) => words[5] == 0xffff,
            _ => false,
        };
        if i == 6 && embeds_ipv4 {
            let [a, b, c, d] = [octets[12], octets[13], octets[14], octets[15]];
            return write!(f, "{a}.{b}.{c}.{d}");
        }
        write!(f, "{word:x}")?;
    }
    if best.is_some_and(|(start, len)| start + len == 8) {
        f.write_char(':')?;
    }
    Ok(())
}

fn longer(best: Option<(usize, usize)>, run: (usize, usize)) -> Option<(usize, usize)> {
    match best {
        Some(best) if best.1 >= run.1 => Some(best),
        _ => Some(run),
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::super::{Format, Value, decode, oid};

    /// (inet input, output) pairs recorded from Postgres 15.
    const RECORDED_INET: &[(&str, &str)] = &[
        ("10.0.0.1", "10.0.0.1"),
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("::1", "::1"),
        ("::2", "::2"),
        ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
        ("::1.2.3.4", "::1.2.3.4"),
        ("2001:db8::1/64", "2001:db8::1/64"),
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
        ("1:0:2:0:3:0:4:0", "1:0:2:0:3:0:4:0"),
        ("::", "::"),
        ("0:0:0:0:0:1:0:0", "::1:0:0"),
        ("::ffff:0:0", "::ffff:0.0.0.0"),
        ("::1:0:0:0", "::1:0:0:0"),
        ("FE80::ABCD", "fe80::abcd"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
        ("1::", "1::"),
    ];

    #[test]
    fn inet_text_matches_postgres() {
        for &(input, want) in RECORDED_INET {
            let value = decode(oid::INET, Format::Text, input.as_bytes()).unwrap();
            assert_eq!(value.to_string(), want, "{input}");
            let again = decode(oid::INET, Format::Text, want.as_bytes()).unwrap();
            assert_eq!(again, value);
            let mut buf = BytesMut::new();
            value.encode_binary(&mut buf).unwrap();
            assert_eq!(decode(oid::INET, Format::Binary, &buf).unwrap(), value);
        }
    }

    #[test]
    fn cidr_always_shows_bits() {
        for (input, want) in [
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("10.0.0.1/32", "10.0.0.1/32"),
            ("10.0.0.1", "10.0.0.1/32"),
            ("fe80::/10", "fe80::/10"),
            ("fe80::", "fe80::/128"),
        ] {
            let value = decode(oid::CIDR, Format::Text, input.as_bytes()).unwrap();
            assert_eq!(value.to_string(), want);
        }
    }

    #[test]
    fn recorded_binary() {
        // inet_send('10.0.0.0/8'::cidr), inet_send('::1'::inet)
        let cidr = [0x02, 0x08, 0x01, 0x04, 10, 0, 0, 0];
        let value = decode(oid::CIDR, Format::Binary, &cidr).unwrap();
        assert_eq!(value.to_string(), "10.0.0.0/8");
        let mut buf = BytesMut::new();
        value.encode_binary(&mut buf).unwrap();
        assert_eq!(buf.as_ref(), cidr);
        let mut inet = vec![0x03, 0x80, 0x00, 0x10];
        inet.extend_from_slice(&[0; 15]);
        inet.push(1);
        let value = decode(oid::INET, Format::Binary, &inet).unwrap();
        assert_eq!(value.to_string(), "::1");
        let mut buf = BytesMut::new();
        value.encode_binary(&mut buf).unwrap();
        assert_eq!(buf.as_ref(), inet.as_slice());
    }

    #[test]
    fn malformed_addresses_are_errors() {
        for bad in [
            "",
            "10.0.0",
            "10.0.0.256",
            "10.0.0.1/33",
            "10.0.0.1/",
            "10.0.0.1/-1",
            "::1/129",
            "::g",
            "10.0.0.1/8/8",
            "010.0.0.1",
        ] {
            assert!(
                decode(oid::INET, Format::Text, bad.as_bytes()).is_err(),
                "{bad}"
            );
        }
        for bad in [
            &[][..],
            &[2, 8, 0, 4, 10, 0, 0],
            &[2, 33, 0, 4, 10, 0, 0, 0],
            &[2, 8, 0, 16, 10, 0, 0, 0],
            &[9, 8, 0, 4, 10, 0, 0, 0],
            &[2, 8, 0, 4, 10, 0, 0, 0, 0],
        ] {
            assert!(decode(oid::INET, Format::Binary, bad).is_err(), "{bad:?}");
        }
        let too_long = Value::Inet(super::Inet {
            addr: "10.0.0.1".parse().unwrap(),
            netmask: 33,
        });
        assert!(too_long.encode_binary(&mut BytesMut::new()).is_err());
    }
}
