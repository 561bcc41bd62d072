//! Which upstream a request may reach: `host:port` parsing, the allow list and the choice
//! between the request's `address` parameter and the fixed upstream.
//!
//! Matching is an exact string comparison of `host:port` after lowercasing the host: no DNS
//! lookups, no wildcards, and `localhost:5432` is a different upstream than `127.0.0.1:5432`
//! (allow both if clients use both). A name is matched as written, so the operator decides
//! which names clients may use.

use std::fmt;

/// An upstream `host:port` as it is matched and dialled: host lowercased, IPv6 literals kept
/// without brackets (`::1`), port in 1–65535.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Upstream {
    host: String,
    port: u16,
}

/// The upstreams a proxy relays to. Never empty in a running proxy: with no `--allow`, it
/// holds only the `--upstream`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<Upstream>,
}

/// Why a request is refused before the WebSocket upgrade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No `address` parameter and no fixed upstream (HTTP 400).
    NoUpstream,
    /// The `address` parameter is not a valid `host:port` or is given twice (HTTP 400).
    BadAddress,
    /// The named upstream is not on the allow list (HTTP 403).
    NotAllowed(Upstream),
}

impl Upstream {
    /// Parses `host:port` or `[v6]:port` (a bare IPv6 literal is refused: brackets are
    /// required). `None` when the text is not exactly one such address.
    pub fn parse(text: &str) -> Option<Upstream> {
        let (host, port) = text.rsplit_once(':')?;
        let host = match host.strip_prefix('[') {
            Some(inner) => {
                let inner = inner.strip_suffix(']')?;
                if !inner.contains(':') {
                    return None;
                }
                inner
            }
            None if host.contains(':') => return None,
            None => host,
        };
        let valid_host = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'));
        if !valid_host || port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
        Some(Upstream {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// The host to dial (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port to dial.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl AllowList {
    /// Adds an upstream (duplicates are ignored).
    pub fn insert(&mut self, upstream: Upstream) {
        if !self.entries.contains(&upstream) {
            self.entries.push(upstream);
        }
    }

    /// True when `upstream` may be reached.
    pub fn allows(&self, upstream: &Upstream) -> bool {
        self.entries.contains(upstream)
    }

    /// True when nothing is allowed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The allowed upstreams, in the order they were given.
    pub fn iter(&self) -> impl Iterator<Item = &Upstream> {
        self.entries.iter()
    }
}

impl Refusal {
    /// The HTTP status the refusal is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::NoUpstream | Refusal::BadAddress => 400,
            Refusal::NotAllowed(_) => 403,
        }
    }

    /// The short response body (never echoes what the client sent).
    pub fn body(&self) -> &'static str {
        match self {
            Refusal::NoUpstream => "edgepg-proxy: no upstream: add ?address=host:port\n",
            Refusal::BadAddress => "edgepg-proxy: the address parameter must be one host:port\n",
            Refusal::NotAllowed(_) => "edgepg-proxy: upstream not on the allow list\n",
        }
    }
}

/// Chooses the upstream of a request from its URL query string (`address=host:port`, the
/// Neon wsproxy convention, on any path), falling back to `fixed` when there is no `address`.
/// Whatever is chosen must be on `allow`.
pub fn choose_upstream(
    query: Option<&str>,
    fixed: Option<&Upstream>,
    allow: &AllowList,
) -> Result<Upstream, Refusal> {
    let mut addresses = query
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .filter(|(key, _)| *key == "address");
    let requested = match (addresses.next(), addresses.next()) {
        (None, _) => None,
        (Some((_, value)), None) => Some(value),
        (Some(_), Some(_)) => return Err(Refusal::BadAddress),
    };
    let upstream = match requested {
        Some(value) => percent_decode(value)
            .as_deref()
            .and_then(Upstream::parse)
            .ok_or(Refusal::BadAddress)?,
        None => fixed.cloned().ok_or(Refusal::NoUpstream)?,
    };
    if allow.allows(&upstream) {
        Ok(upstream)
    } else {
        Err(Refusal::NotAllowed(upstream))
    }
}

/// Decodes `%XX` escapes (JavaScript's `URLSearchParams` writes `:` as `%3A`); `None` for a
/// broken escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(text: &str) -> Upstream {
        Upstream::parse(text).unwrap()
    }

    fn allow(list: &[&str]) -> AllowList {
        let mut a = AllowList::default();
        for u in list {
            a.insert(up(u));
        }
        a
    }

    #[test]
    fn parses_and_normalizes_host_port() {
        assert_eq!(up("DB.Example.com:5432").to_string(), "db.example.com:5432");
        assert_eq!(up("[::1]:6432").host(), "::1");
        assert_eq!(up("[::1]:6432").to_string(), "[::1]:6432");
        for bad in [
            "",
            "host",
            "host:",
            ":5432",
            "host:0",
            "host:65536",
            "host:+1",
            "::1:5432",
            "[]:1",
            "[x]:1",
            "a b:1",
            "h/x:1",
            "h:1 ",
        ] {
            assert_eq!(Upstream::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn address_parameter_must_be_allowed() {
        let a = allow(&["127.0.0.1:56432", "127.0.0.1:55432"]);
        assert_eq!(
            choose_upstream(Some("address=127.0.0.1:56432"), None, &a),
            Ok(up("127.0.0.1:56432"))
        );
        assert_eq!(
            choose_upstream(Some("x=1&address=127.0.0.1%3A55432"), None, &a),
            Ok(up("127.0.0.1:55432"))
        );
        assert_eq!(
            choose_upstream(Some("address=localhost:56432"), None, &a),
            Err(Refusal::NotAllowed(up("localhost:56432")))
        );
        assert_eq!(
            choose_upstream(Some("address=10.0.0.1:22"), None, &a).map_err(|r| r.status()),
            Err(403)
        );
    }

    #[test]
    fn malformed_or_missing_addresses_are_400() {
        let a = allow(&["127.0.0.1:56432"]);
        for q in [
            "address=",
            "address",
            "address=127.0.0.1",
            "address=%zz",
            "address=%3",
            "address=127.0.0.1:56432&address=127.0.0.1:56432",
        ] {
            let r = choose_upstream(Some(q), None, &a);
            assert_eq!(r, Err(Refusal::BadAddress), "{q}");
            assert_eq!(r.unwrap_err().status(), 400);
        }
        assert_eq!(choose_upstream(None, None, &a), Err(Refusal::NoUpstream));
        assert_eq!(
            choose_upstream(Some("a=b"), None, &a),
            Err(Refusal::NoUpstream)
        );
    }

    #[test]
    fn fixed_upstream_is_used_without_an_address() {
        let fixed = up("127.0.0.1:56432");
        let a = allow(&["127.0.0.1:56432"]);
        assert_eq!(choose_upstream(None, Some(&fixed), &a), Ok(fixed.clone()));
        assert_eq!(
            choose_upstream(Some("v=2"), Some(&fixed), &a),
            Ok(fixed.clone())
        );
        // An address still has to be on the list.
        assert_eq!(
            choose_upstream(Some("address=127.0.0.1:55432"), Some(&fixed), &a),
            Err(Refusal::NotAllowed(up("127.0.0.1:55432")))
        );
    }

    #[test]
    fn an_empty_list_allows_nothing() {
        let a = AllowList::default();
        assert!(a.is_empty());
        let fixed = up("127.0.0.1:1");
        assert!(matches!(
            choose_upstream(None, Some(&fixed), &a),
            Err(Refusal::NotAllowed(_))
        ));
    }
}
