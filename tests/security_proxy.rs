//! The proxy's allow list against address tricks: other spellings of an allowed host or port,
//! userinfo, paths, NULs and repeated `address` keys, checked in `choose_upstream` and against
//! the running proxy before the WebSocket upgrade.
//!
//! (tests/proxy.rs covers the basic allow list; here only the address tricks it does not.)

mod common;
#[path = "common/proxy.rs"]
mod proxy_support;

use std::time::Duration;

use edgepg::proxy::allow::{AllowList, Refusal, Upstream, choose_upstream};
use proxy_support::{ProxyProcess, http_request, stack_upstream, status_line};

fn up(text: &str) -> Upstream {
    Upstream::parse(text).unwrap_or_else(|| panic!("{text} parses"))
}

#[test]
fn the_allow_list_matches_exactly_and_refuses_address_tricks() {
    let mut allow = AllowList::default();
    for a in [
        "127.0.0.1:55432",
        "localhost:56432",
        "[::1]:55432",
        "db.internal:5432",
    ] {
        allow.insert(up(a));
    }
    // (address parameter value as sent, expected: Ok(upstream) or the HTTP status)
    let cases: &[(&str, Result<&str, u16>)] = &[
        ("127.0.0.1:55432", Ok("127.0.0.1:55432")),
        ("127.0.0.1%3A55432", Ok("127.0.0.1:55432")),
        ("%31%32%37.0.0.1:55432", Ok("127.0.0.1:55432")),
        // A leading zero names the same port: the same upstream.
        ("127.0.0.1:055432", Ok("127.0.0.1:55432")),
        // Names and addresses are matched as written, never resolved.
        ("LOCALHOST:56432", Ok("localhost:56432")),
        ("localhost:55432", Err(403)),
        ("127.0.0.1:56432", Err(403)),
        ("localhost.:56432", Err(403)),
        ("db.internal:5432", Ok("db.internal:5432")),
        ("DB.Internal:5432", Ok("db.internal:5432")),
        ("db.internal.:5432", Err(403)),
        ("db.internal.evil.example:5432", Err(403)),
        ("evil.example:5432", Err(403)),
        // Other spellings of 127.0.0.1.
        ("127.1:55432", Err(403)),
        ("2130706433:55432", Err(403)),
        ("0x7f.0.0.1:55432", Err(403)),
        ("0177.0.0.1:55432", Err(403)),
        ("127.000.000.001:55432", Err(403)),
        // Userinfo, paths and NULs smuggled into the host or port.
        ("evil.example@127.0.0.1:55432", Err(400)),
        ("127.0.0.1%40evil.example:55432", Err(400)),
        ("127.0.0.1%2F@evil.example:55432", Err(400)),
        ("127.0.0.1:55432@evil.example:80", Err(400)),
        ("127.0.0.1:55432%2Fx", Err(400)),
        ("127.0.0.1:55432%2F", Err(400)),
        ("127.0.0.1:55432%00", Err(400)),
        ("127.0.0.1%00.evil:55432", Err(400)),
        ("127.0.0.1:55432%20", Err(400)),
        ("127.0.0.1%0D%0AHost:%20x:55432", Err(400)),
        ("127.0.0.1:55432#frag", Err(400)),
        ("127.0.0.1:+55432", Err(400)),
        ("127.0.0.1:-1", Err(400)),
        ("127.0.0.1:0", Err(400)),
        ("127.0.0.1:65536", Err(400)),
        ("127.0.0.1:5543200000", Err(400)),
        ("127.0.0.1:%35%35%34%33%32", Ok("127.0.0.1:55432")),
        ("%zz:55432", Err(400)),
        // IPv6: brackets required, literal spelling only.
        ("[::1]:55432", Ok("[::1]:55432")),
        ("%5B::1%5D:55432", Ok("[::1]:55432")),
        ("[0:0:0:0:0:0:0:1]:55432", Err(403)),
        ("[::ffff:127.0.0.1]:55432", Err(403)),
        ("[::FFFF:7f00:1]:55432", Err(403)),
        ("::1:55432", Err(400)),
        ("[::1]55432", Err(400)),
        ("[::1%25lo]:55432", Err(400)),
        ("[[::1]]:55432", Err(400)),
        ("[127.0.0.1]:55432", Err(400)),
    ];
    let long = format!("{}.example:5432", "a".repeat(260));
    let mut all: Vec<(String, Result<&str, u16>)> =
        cases.iter().map(|(a, e)| (a.to_string(), *e)).collect();
    all.push((long, Err(400)));
    for (address, expected) in &all {
        let got = choose_upstream(Some(&format!("address={address}")), None, &allow);
        match (expected, &got) {
            (Ok(want), Ok(u)) => assert_eq!(u.to_string(), *want, "{address}"),
            (Err(status), Err(r)) => {
                assert_eq!(r.status(), *status, "{address}: {r:?}");
                assert!(
                    !r.body().contains(address.as_str()),
                    "the body echoes {address}"
                );
            }
            _ => panic!("{address}: expected {expected:?}, got {got:?}"),
        }
    }
    // Two addresses, even equal ones, are refused; other keys are ignored, never decoded
    // into an address: with a fixed upstream they go there, without one nowhere.
    let fixed = up("127.0.0.1:55432");
    for q in [
        "address=127.0.0.1:55432&address=10.0.0.1:22",
        "address=127.0.0.1:55432&address=127.0.0.1:55432",
        "address=10.0.0.1:22&address=127.0.0.1:55432",
    ] {
        assert_eq!(
            choose_upstream(Some(q), Some(&fixed), &allow),
            Err(Refusal::BadAddress)
        );
    }
    for q in [
        "Address=10.0.0.1:22",
        "addr%65ss=10.0.0.1:22",
        "address%3D10.0.0.1:22",
        "%61ddress=10.0.0.1:22",
        "address[]=10.0.0.1:22",
    ] {
        assert_eq!(
            choose_upstream(Some(q), Some(&fixed), &allow),
            Ok(fixed.clone()),
            "{q}"
        );
        assert_eq!(
            choose_upstream(Some(q), None, &allow),
            Err(Refusal::NoUpstream),
            "{q}"
        );
    }
    assert_eq!(
        choose_upstream(Some("x=1&address=10.0.0.1:22"), Some(&fixed), &allow)
            .map_err(|r| r.status()),
        Err(403)
    );
}

#[test]
fn the_running_proxy_refuses_address_tricks_before_the_upgrade() {
    let proxy = ProxyProcess::for_stack(&[]);
    let bouncer = stack_upstream("EDGEPG_URL_BOUNCER");
    let port = bouncer.rsplit(':').next().unwrap().to_string();
    for (path, status) in [
        (format!("/v2?address={bouncer}"), "101"),
        (format!("/v2?address=127.0.0.1%3A0{port}"), "101"),
        (format!("/v2?address=localhost:{port}"), "403"),
        (format!("/v2?address=127.1:{port}"), "403"),
        (format!("/v2?address=[::ffff:127.0.0.1]:{port}"), "403"),
        (format!("/v2?address=evil.example@{bouncer}"), "400"),
        (format!("/v2?address={bouncer}%2F@evil.example:80"), "400"),
        (format!("/v2?address={bouncer}%00"), "400"),
        (format!("/v2?address={bouncer}&address=10.0.0.1:22"), "400"),
        ("/v2?Address=10.0.0.1:22".to_string(), "400"),
        ("/%2e%2e/v2?address=10.0.0.1:22".to_string(), "403"),
    ] {
        let line = status_line(&proxy.addr, &path);
        assert!(
            line.starts_with(&format!("HTTP/1.1 {status}")),
            "{path}: {line}"
        );
        if status != "101" {
            let full = http_request(&proxy.addr, &path, true);
            assert!(
                !full.contains("evil"),
                "{path}: the response echoes it: {full}"
            );
        }
    }
    // The proxy's log names refused upstreams only in their parsed form: the raw text of a
    // malformed address is never logged.
    std::thread::sleep(Duration::from_millis(200));
    let log = proxy.log().join("\n");
    assert!(!log.contains("evil"), "{log}");
}
