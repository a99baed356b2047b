//! The static URL check and the address rules, case by case.

use super::*;

fn live(url: &str) -> Result<Target, Refusal> {
    check_url(url, false, &Allowances::default())
}

#[test]
fn every_deny_range_parses() {
    assert_eq!(DENIED_V4.len(), DENY_V4.len());
    assert_eq!(DENIED_V6.len(), DENY_V6.len());
}

#[test]
fn live_mode_refuses_every_internal_destination() {
    let refused = [
        "http://example.com/hook",
        "ftp://example.com/hook",
        "https://user:pass@example.com/hook",
        "https://user@example.com/hook",
        "https://127.0.0.1/hook",
        "https://127.1/hook",
        "https://2130706433/hook",
        "https://0x7f000001/hook",
        "https://0x7f.0.0.1/hook",
        "https://0177.0.0.1/hook",
        "https://0/hook",
        "https://0.0.0.0/hook",
        "https://10.0.0.5/hook",
        "https://172.16.3.4/hook",
        "https://172.31.255.255/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/hook",
        "https://198.18.0.1/hook",
        "https://192.0.2.10/hook",
        "https://203.0.113.9/hook",
        "https://224.0.0.1/hook",
        "https://255.255.255.255/hook",
        "https://240.0.0.1/hook",
        "https://[::1]/hook",
        "https://[::]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[::ffff:a9fe:a9fe]/hook",
        "https://[64:ff9b::7f00:1]/hook",
        "https://[2002:7f00:1::]/hook",
        "https://[2001:0:4136:e378::1]/hook",
        "https://[fc00::1]/hook",
        "https://[fd12:3456::1]/hook",
        "https://[fe80::1]/hook",
        "https://[ff02::1]/hook",
        "https://[2001:db8::1]/hook",
        "not a url",
        "https://:443/hook",
        "//example.com/hook",
    ];
    for url in refused {
        assert!(live(url).is_err(), "{url} was accepted: {:?}", live(url));
    }
    assert!(refused.len() >= 30);
}

#[test]
fn public_https_destinations_pass() {
    for url in [
        "https://example.com/hook",
        "https://hooks.example.com:8443/a/b?c=d",
        "https://93.184.216.34/hook",
        "https://[2606:2800:220:1:248:1893:25c8:1946]/hook",
        "https://EXAMPLE.com./hook",
        "https://xn--bcher-kva.example/hook",
        "https://bücher.example/hook",
    ] {
        assert!(live(url).is_ok(), "{url} was refused: {:?}", live(url));
    }
    let idn = live("https://bücher.example/hook").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        idn.host, "xn--bcher-kva.example",
        "IDN hosts are checked in punycode"
    );
    let decimal = live("https://1572395042/hook").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        decimal.literal,
        Some(IpAddr::V4(Ipv4Addr::new(93, 184, 216, 34)))
    );
}

fn ports(toml: &str) -> Vec<PortRange> {
    #[derive(serde::Deserialize)]
    struct Ports {
        ports: Vec<PortRange>,
    }
    toml::from_str::<Ports>(&format!("ports = {toml}"))
        .map(|p| p.ports)
        .unwrap_or_else(|e| panic!("{toml}: {e}"))
}

#[test]
fn test_mode_loopback_needs_an_open_port_and_nothing_else_opens() {
    let open = Allowances::default().with_loopback_ports(&ports(r#"[3000, "9000-9001"]"#));
    for url in [
        "http://localhost:3000/hook",
        "http://127.0.0.1:3000/hook",
        "http://127.9.9.9:9001/hook",
        "http://[::1]:9000/hook",
        "http://[::ffff:127.0.0.1]:3000/hook",
        "https://hooks.localhost:3000/hook",
    ] {
        let t = check_url(url, true, &open).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert!(t.private_ok, "{url}");
    }
    for (url, port) in [
        ("http://localhost:6379/hook", 6379),
        ("http://127.0.0.1/hook", 80),
        ("https://localhost/hook", 443),
        ("http://2130706433:5432/hook", 5432),
        ("http://[::1]:9002/hook", 9002),
        ("http://a.localhost:2999/hook", 2999),
    ] {
        assert_eq!(
            check_url(url, true, &open),
            Err(Refusal::LoopbackPort {
                port,
                open: "3000, 9000-9001".into()
            }),
            "{url}"
        );
    }
    // Off (the default): no loopback port at all, however it is spelled.
    let off = Allowances::default();
    assert!(!off.loopback_enabled());
    for url in [
        "http://localhost:3000/hook",
        "http://127.0.0.1:8080/hook",
        "https://[::1]:9000/hook",
        "http://0x7f.1:3000/hook",
    ] {
        assert_eq!(
            check_url(url, true, &off),
            Err(Refusal::LoopbackOff),
            "{url}"
        );
    }
    // The loopback ports never open anything else, nor anything to live endpoints.
    assert_eq!(
        check_url("http://10.0.0.1:3000/hook", true, &open),
        Err(Refusal::Scheme)
    );
    assert!(matches!(
        check_url("https://10.0.0.1:3000/hook", true, &open),
        Err(Refusal::Literal { why: "private", .. })
    ));
    assert_eq!(
        check_url("http://localhost:3000/hook", false, &open),
        Err(Refusal::Scheme)
    );
    assert!(matches!(
        check_url("https://127.0.0.1:3000/hook", false, &open),
        Err(Refusal::Literal {
            why: "loopback",
            ..
        })
    ));
}

#[test]
fn an_allow_listed_loopback_host_needs_no_loopback_port() {
    let allow = Allowances::parse(&["127.0.0.3/32".into()]).unwrap_or_else(|e| panic!("{e}"));
    for test_mode in [true, false] {
        let t = check_url("http://127.0.0.3:6379/hook", test_mode, &allow)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(t.private_ok);
    }
    assert_eq!(
        check_url("http://127.0.0.1:6379/hook", true, &allow),
        Err(Refusal::LoopbackOff)
    );
}

#[test]
fn refusals_name_no_resolved_address_and_read_as_sentences() {
    let resolved = Refusal::Resolved {
        host: "db.internal".into(),
        ip: IpAddr::V4(Ipv4Addr::new(10, 9, 8, 7)),
        why: "private",
    };
    let shown = resolved.to_string();
    assert!(
        !shown.contains("10.9.8.7") && !shown.contains("private") && !shown.contains("db."),
        "{shown}"
    );
    assert_eq!(
        resolved.address(),
        Some((IpAddr::V4(Ipv4Addr::new(10, 9, 8, 7)), "private"))
    );
    let literal = live("https://10.9.8.7/hook").err();
    assert_eq!(
        literal.as_ref().and_then(Refusal::address),
        Some((IpAddr::V4(Ipv4Addr::new(10, 9, 8, 7)), "private"))
    );
    // Each message completes "This webhook URL cannot be used: …" with its own subject
    // (the probe found "it its host name does not resolve").
    let all = [
        Refusal::Invalid,
        Refusal::Scheme,
        Refusal::Userinfo,
        Refusal::NoHost,
        Refusal::Unresolvable,
        resolved,
        Refusal::Literal {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            why: "loopback",
        },
        Refusal::LoopbackOff,
        Refusal::LoopbackPort {
            port: 6379,
            open: "3000".into(),
        },
    ];
    for refusal in &all {
        let shown = refusal.to_string();
        assert!(
            ["it ", "its ", "test-mode ", "port "]
                .iter()
                .any(|s| shown.starts_with(s)),
            "{shown}"
        );
        assert!(
            !shown.contains("it its") && !shown.contains("it it "),
            "{shown}"
        );
    }
    assert_eq!(all.len(), 9);
}

#[test]
fn only_loopback_and_unspecified_addresses_are_this_host() {
    for ip in [
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "::ffff:127.0.0.1",
        "0.0.0.0",
        "::",
    ] {
        let ip: IpAddr = ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}"));
        assert!(is_this_host(ip), "{ip}");
    }
    for ip in [
        "10.0.0.1",
        "192.0.2.2",
        "93.184.216.34",
        "2606:2800::1",
        "fe80::1",
    ] {
        let ip: IpAddr = ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}"));
        assert!(!is_this_host(ip), "{ip}");
    }
}

#[test]
fn the_operator_allow_list_opens_hosts_and_ranges() {
    let allow = Allowances::parse(&["hooks.internal".into(), "10.1.0.0/16".into()])
        .unwrap_or_else(|e| panic!("{e}"));
    let t = check_url("http://hooks.internal/x", false, &allow).unwrap_or_else(|e| panic!("{e}"));
    assert!(t.private_ok);
    assert!(check_url("http://10.1.2.3/x", false, &allow).is_ok());
    assert!(check_url("https://10.2.0.1/x", false, &allow).is_err());
    assert!(Allowances::parse(&["not a host!".into()]).is_err());
    // A resolved address is checked against the list too.
    let public = live("https://example.com/x").unwrap_or_else(|e| panic!("{e}"));
    assert!(
        check_address(
            &public,
            "10.1.0.9"
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            &allow
        )
        .is_ok()
    );
    assert!(check_address(&public, IpAddr::V4(Ipv4Addr::LOCALHOST), &allow).is_err());
    assert!(check_address(&public, IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)), &allow).is_ok());
}
