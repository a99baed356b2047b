//! SSRF defence for webhook URLs: which destinations Easel may deliver to.
//!
//! A webhook URL is the customer's input, and Easel connects to it from inside the
//! operator's network, so a URL must never become a way to reach that network: loopback,
//! private ranges, link-local (the cloud metadata service at 169.254.169.254), CGNAT,
//! multicast, documentation ranges, and IPv6 forms that embed an IPv4 address (mapped,
//! 6to4, NAT64, Teredo) are refused unless the operator allow-lists them. The table
//! follows REFERENCE.md §6 (Smokescreen's ranges plus the gaps it leaves).
//!
//! [`check_url`] is the static check of a URL (at endpoint creation and before every
//! delivery); [`denied`] classifies one address, for the resolver that vets every address a
//! name resolves to before the connection is made to a vetted one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// IPv4 ranges never delivered to, with the reason given.
const DENY_V4: &[(&str, &str)] = &[
    ("0.0.0.0/8", "\"this\" network"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "carrier-grade NAT"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (cloud metadata)"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.31.196.0/24", "AS112"),
    ("192.52.193.0/24", "AMT"),
    ("192.88.99.0/24", "6to4 relay"),
    ("192.168.0.0/16", "private"),
    ("192.175.48.0/24", "AS112"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
];

/// IPv6 ranges never delivered to (inside 2000::/3, the only space allowed at all).
const DENY_V6: &[(&str, &str)] = &[
    ("2001::/23", "IETF protocol assignments (Teredo, ORCHID)"),
    ("2001:db8::/32", "documentation"),
    ("2002::/16", "6to4"),
    ("3fff::/20", "documentation"),
];

/// Why a URL or address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("not a valid absolute URL")]
    Invalid,
    #[error("must use https (plain http only for loopback in test mode or allow-listed hosts)")]
    Scheme,
    #[error("must not carry a user name or password")]
    Userinfo,
    #[error("needs a host name")]
    NoHost,
    #[error("its host name does not resolve")]
    Unresolvable,
    #[error("resolves to {0}, which is {1}")]
    Address(IpAddr, &'static str),
}

/// What the operator allows besides the public internet.
#[derive(Debug, Clone, Default)]
pub struct Allowances {
    /// Host names (exact, lower case) and address ranges (CIDR) delivered to even if they
    /// are private, over http too.
    hosts: Vec<String>,
    ranges: Vec<IpNet>,
}

impl Allowances {
    /// Parses the operator's allow-list: host names and CIDR ranges (a bare address is a
    /// one-address range).
    pub fn parse(entries: &[String]) -> Result<Allowances, String> {
        let mut allow = Allowances::default();
        for entry in entries {
            let entry = entry.trim().to_ascii_lowercase();
            if let Ok(net) = entry.parse::<IpNet>() {
                allow.ranges.push(net);
            } else if let Ok(ip) = entry.parse::<IpAddr>() {
                allow.ranges.push(IpNet::from(ip));
            } else if !entry.is_empty()
                && entry
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            {
                allow.hosts.push(entry);
            } else {
                return Err(format!(
                    "`{entry}` is neither a host name nor an address range"
                ));
            }
        }
        Ok(allow)
    }

    /// Whether `host` is allow-listed by name.
    pub fn host(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h == host)
    }

    /// Whether `ip` is in an allow-listed range.
    pub fn address(&self, ip: IpAddr) -> bool {
        self.ranges.iter().any(|net| net.contains(&ip))
    }
}

/// Where a delivery may go, checked statically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: url::Url,
    /// The host as it must be resolved (and sent as `Host` and SNI).
    pub host: String,
    /// Set when the URL names an address rather than a host name (no resolution then:
    /// the address itself was checked).
    pub literal: Option<IpAddr>,
    /// Whether addresses the public rules deny are allowed for this target (loopback in
    /// test mode, or an allow-listed host).
    pub private_ok: bool,
}

/// Checks a webhook URL before anything is stored or sent. The URL is parsed the way
/// browsers do (WHATWG), so decimal, hex and octal IPv4 forms (`http://2130706433/`,
/// `0x7f.1`, `0177.0.0.1`) become the address they mean and are checked as such.
pub fn check_url(raw: &str, test_mode: bool, allow: &Allowances) -> Result<Target, Refusal> {
    let url = url::Url::parse(raw.trim()).map_err(|_| Refusal::Invalid)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refusal::Userinfo);
    }
    let (host, literal) = match url.host() {
        Some(url::Host::Domain(d)) => (d.trim_end_matches('.').to_ascii_lowercase(), None),
        Some(url::Host::Ipv4(ip)) => (ip.to_string(), Some(IpAddr::V4(ip))),
        Some(url::Host::Ipv6(ip)) => (ip.to_string(), Some(IpAddr::V6(ip))),
        None => return Err(Refusal::NoHost),
    };
    if host.is_empty() {
        return Err(Refusal::NoHost);
    }
    let allowed_host = allow.host(&host) || literal.is_some_and(|ip| allow.address(ip));
    let loopback_name = host == "localhost" || host.ends_with(".localhost");
    let loopback = loopback_name || literal.is_some_and(is_loopback);
    let private_ok = allowed_host || (test_mode && loopback);
    match url.scheme() {
        "https" => {}
        "http" if private_ok => {}
        _ => return Err(Refusal::Scheme),
    }
    if let Some(ip) = literal
        && !private_ok
        && let Some(why) = denied(ip)
    {
        return Err(Refusal::Address(ip, why));
    }
    Ok(Target {
        url,
        host,
        literal,
        private_ok,
    })
}

fn is_loopback(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback(),
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Why Easel must not connect to `ip`, or `None` if it is a public address.
pub fn denied(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => denied_v4(v4),
        IpAddr::V6(v6) => denied_v6(v6),
    }
}

/// The deny tables, parsed once (every delivery checks every address it resolves).
static DENIED_V4: std::sync::LazyLock<Vec<(ipnet::Ipv4Net, &'static str)>> =
    std::sync::LazyLock::new(|| {
        DENY_V4
            .iter()
            .filter_map(|(net, why)| net.parse().ok().map(|n| (n, *why)))
            .collect()
    });
static DENIED_V6: std::sync::LazyLock<Vec<(ipnet::Ipv6Net, &'static str)>> =
    std::sync::LazyLock::new(|| {
        DENY_V6
            .iter()
            .filter_map(|(net, why)| net.parse().ok().map(|n| (n, *why)))
            .collect()
    });

fn denied_v4(ip: Ipv4Addr) -> Option<&'static str> {
    if ip.is_broadcast() {
        return Some("broadcast");
    }
    DENIED_V4
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, why)| *why)
}

fn denied_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // Only global unicast (2000::/3) is deliverable: this refuses ::, ::1, the NAT64
    // prefixes (64:ff9b::/96, 64:ff9b:1::/48), discard-only 100::/64, unique local
    // fc00::/7, link-local fe80::/10, site-local fec0::/10 and multicast ff00::/8.
    if ip.segments()[0] & 0xe000 != 0x2000 {
        return Some(match ip.segments()[0] {
            0xfc00..=0xfdff => "unique local (private)",
            0xfe80..=0xfebf => "link-local",
            0xff00..=0xffff => "multicast",
            0 if ip.is_loopback() => "loopback",
            _ => "not global unicast",
        });
    }
    DENIED_V6
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, why)| *why)
}

/// Whether a resolved address may be connected to for `target`.
pub fn check_address(target: &Target, ip: IpAddr, allow: &Allowances) -> Result<(), Refusal> {
    vet_address(ip, target.private_ok, allow)
}

/// The one address rule: public addresses pass; denied ones only for a target that may
/// reach private space, or inside an allow-listed range.
fn vet_address(ip: IpAddr, private_ok: bool, allow: &Allowances) -> Result<(), Refusal> {
    if private_ok || allow.address(ip) {
        return Ok(());
    }
    match denied(ip) {
        Some(why) => Err(Refusal::Address(ip, why)),
        None => Ok(()),
    }
}

/// A DNS resolver for the delivery client that resolves each name once and refuses the
/// connection if *any* of its addresses is denied (a name that answers both a public and
/// a private address is an attack, not a choice): the connection then goes to an address
/// this resolver checked, so a second lookup (DNS rebinding) never happens. IP-literal
/// URLs never reach a resolver; [`check_url`] checked those.
#[derive(Clone)]
pub struct GuardedResolver {
    allow: Allowances,
    /// Test-mode client: `localhost` names may resolve to loopback addresses.
    loopback_names: bool,
}

impl GuardedResolver {
    /// The resolver for live deliveries (`loopback_names = false`) or test-mode ones.
    pub fn new(allow: Allowances, loopback_names: bool) -> GuardedResolver {
        GuardedResolver {
            allow,
            loopback_names,
        }
    }

    /// Resolves `host` and vets every address.
    pub async fn vet(&self, host: &str) -> Result<Vec<std::net::SocketAddr>, Refusal> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
            .await
            .map_err(|_| Refusal::Unresolvable)?
            .collect();
        if addrs.is_empty() {
            return Err(Refusal::Unresolvable);
        }
        let named_loopback = host == "localhost" || host.ends_with(".localhost");
        let private_ok = self.allow.host(&host);
        for addr in &addrs {
            let ip = addr.ip();
            if self.loopback_names && named_loopback && is_loopback(ip) {
                continue;
            }
            vet_address(ip, private_ok, &self.allow)?;
        }
        Ok(addrs)
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = self.clone();
        Box::pin(async move {
            let addrs = resolver.vet(name.as_str()).await?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn test_mode_allows_plain_http_to_loopback_only() {
        let none = Allowances::default();
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://localhost:3000/hook",
            "http://[::1]:9000/hook",
        ] {
            let t = check_url(url, true, &none).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert!(t.private_ok);
        }
        assert_eq!(
            check_url("http://10.0.0.1/hook", true, &none),
            Err(Refusal::Scheme)
        );
        assert!(matches!(
            check_url("https://10.0.0.1/hook", true, &none),
            Err(Refusal::Address(_, "private"))
        ));
        assert_eq!(
            check_url("http://localhost/hook", false, &none),
            Err(Refusal::Scheme)
        );
    }

    #[test]
    fn the_operator_allow_list_opens_hosts_and_ranges() {
        let allow = Allowances::parse(&["hooks.internal".into(), "10.1.0.0/16".into()])
            .unwrap_or_else(|e| panic!("{e}"));
        let t =
            check_url("http://hooks.internal/x", false, &allow).unwrap_or_else(|e| panic!("{e}"));
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

    /// A real client with the resolver: a name that resolves to loopback is refused before
    /// any connection in live mode, and allowed (to loopback only) for test-mode clients.
    #[tokio::test]
    async fn names_resolving_to_internal_addresses_are_refused_at_connect() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        tokio::spawn(async move {
            let app = axum::Router::new().route("/hook", axum::routing::post(|| async { "ok" }));
            let _ = axum::serve(listener, app).await;
        });
        let client = |loopback_names: bool| {
            let resolver =
                std::sync::Arc::new(GuardedResolver::new(Allowances::default(), loopback_names));
            reqwest::Client::builder()
                .dns_resolver(resolver)
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .build()
                .unwrap_or_else(|e| panic!("client: {e}"))
        };
        let url = format!("http://localhost:{port}/hook");
        let live = client(false).post(&url).send().await;
        let error = live.err().map(|e| format!("{e:?}")).unwrap_or_default();
        assert!(
            error.contains("loopback"),
            "live delivery to localhost connected: {error}"
        );
        let test = client(true)
            .post(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("test-mode delivery to localhost: {e:?}"));
        assert_eq!(test.status(), 200);
        let vetted = GuardedResolver::new(Allowances::default(), false)
            .vet("localhost")
            .await;
        assert!(
            matches!(vetted, Err(Refusal::Address(_, "loopback"))),
            "{vetted:?}"
        );
        assert_eq!(
            GuardedResolver::new(Allowances::default(), false)
                .vet("no-such-host.invalid")
                .await,
            Err(Refusal::Unresolvable)
        );
    }
}
