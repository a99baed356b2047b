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
//! delivery); [`denied`] classifies one address, for the resolver (`super::resolver`) that
//! vets every address a name resolves to before the connection is made to a vetted one.
//!
//! A refusal tells the developer *that* a destination is not allowed, never which address
//! their host name resolved to: that would let any key with `webhooks:write` map the
//! operator's internal names to addresses. The address goes to the server log instead
//! ([`Refusal::address`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use super::ports::PortRange;

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

/// Why a URL or address is refused. The message completes "This webhook URL cannot be
/// used: …" and is shown to the developer, so it never names a resolved address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("it is not a valid absolute URL")]
    Invalid,
    #[error(
        "it must use https (plain http only to hosts the operator allows, or to loopback from test mode where the operator enabled it)"
    )]
    Scheme,
    #[error("it must not carry a user name or password")]
    Userinfo,
    #[error("it needs a host name")]
    NoHost,
    #[error("its host name does not resolve")]
    Unresolvable,
    /// The URL names a denied address itself: the developer wrote it, so its kind is said.
    #[error("it names an address webhooks are not delivered to ({why})")]
    Literal { ip: IpAddr, why: &'static str },
    /// The host name resolves to a denied address; which one is for the server log only.
    #[error("its host name resolves to an address webhooks are not delivered to")]
    Resolved {
        host: String,
        ip: IpAddr,
        why: &'static str,
    },
    /// A test-mode loopback URL where the operator opened no loopback port.
    #[error(
        "test-mode endpoints on loopback are not enabled on this server (webhooks.test_mode_loopback_ports)"
    )]
    LoopbackOff,
    /// A test-mode loopback URL on a port the operator did not open.
    #[error("port {port} is not open to test-mode endpoints on loopback (open: {open})")]
    LoopbackPort { port: u16, open: String },
}

impl Refusal {
    /// The denied address behind the refusal and why it is denied: for the server log,
    /// never for the caller.
    pub fn address(&self) -> Option<(IpAddr, &'static str)> {
        match self {
            Refusal::Literal { ip, why } | Refusal::Resolved { ip, why, .. } => Some((*ip, *why)),
            _ => None,
        }
    }

    /// The host name that resolved to the denied address, for the server log.
    pub fn host(&self) -> Option<&str> {
        match self {
            Refusal::Resolved { host, .. } => Some(host),
            _ => None,
        }
    }
}

/// What the operator allows besides the public internet.
#[derive(Debug, Clone, Default)]
pub struct Allowances {
    /// Host names (exact, lower case) and address ranges (CIDR) delivered to even if they
    /// are private, over http too.
    hosts: Vec<String>,
    ranges: Vec<IpNet>,
    /// Loopback ports test-mode endpoints may use (none: loopback is off for them).
    loopback_ports: Vec<PortRange>,
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

    /// These allowances, with test-mode endpoints let onto loopback `ports`.
    pub fn with_loopback_ports(mut self, ports: &[PortRange]) -> Allowances {
        self.loopback_ports = ports.to_vec();
        self
    }

    /// Whether test-mode endpoints may use loopback at all.
    pub fn loopback_enabled(&self) -> bool {
        !self.loopback_ports.is_empty()
    }

    /// Whether a test-mode endpoint on loopback may use `port`; the refusal if not.
    fn loopback_port(&self, port: u16) -> Result<(), Refusal> {
        if !self.loopback_enabled() {
            Err(Refusal::LoopbackOff)
        } else if self.loopback_ports.iter().any(|r| r.contains(port)) {
            Ok(())
        } else {
            Err(Refusal::LoopbackPort {
                port,
                open: super::ports::list(&self.loopback_ports),
            })
        }
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
    /// Whether addresses the public rules deny are allowed for this target (loopback on
    /// an open port in test mode, or an allow-listed host).
    pub private_ok: bool,
}

/// Checks a webhook URL before anything is stored or sent. The URL is parsed the way
/// browsers do (WHATWG), so decimal, hex and octal IPv4 forms (`http://2130706433/`,
/// `0x7f.1`, `0177.0.0.1`) become the address they mean and are checked as such.
///
/// A test-mode URL on loopback (`localhost`, `*.localhost`, 127.0.0.0/8, `::1`) needs its
/// port open in `webhooks.test_mode_loopback_ports`, unless the operator allow-lists the
/// host: loopback is the Easel host itself, where its database, Redis and object store
/// may listen.
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
    let loopback = is_loopback_name(&host) || literal.is_some_and(is_loopback);
    if !matches!(url.scheme(), "https" | "http") {
        return Err(Refusal::Scheme);
    }
    let private_ok = if allowed_host {
        true
    } else if test_mode && loopback {
        allow.loopback_port(url.port_or_known_default().unwrap_or(0))?;
        true
    } else {
        false
    };
    if url.scheme() == "http" && !private_ok {
        return Err(Refusal::Scheme);
    }
    if let Some(ip) = literal
        && !private_ok
        && let Some(why) = denied(ip)
    {
        return Err(Refusal::Literal { ip, why });
    }
    Ok(Target {
        url,
        host,
        literal,
        private_ok,
    })
}

/// `localhost` and `*.localhost`, which resolve to loopback (RFC 6761).
pub(super) fn is_loopback_name(host: &str) -> bool {
    host == "localhost" || host.ends_with(".localhost")
}

pub(super) fn is_loopback(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback(),
    }
}

/// Whether a connection to `ip` reaches the Easel host itself: loopback, or the
/// unspecified address (which the kernel routes to this host). Answers from such an
/// address are never shown to the developer, whatever allowed the delivery: they may come
/// from the operator's own services.
pub fn is_this_host(ip: IpAddr) -> bool {
    is_loopback(ip) || canonical(ip).is_unspecified()
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
    vet_address(&target.host, ip, target.private_ok, allow)
}

/// The one address rule for an address `host` resolved to: public addresses pass; denied
/// ones only for a target that may reach private space, or inside an allow-listed range.
pub(super) fn vet_address(
    host: &str,
    ip: IpAddr,
    private_ok: bool,
    allow: &Allowances,
) -> Result<(), Refusal> {
    if private_ok || allow.address(ip) {
        return Ok(());
    }
    match denied(ip) {
        Some(why) => Err(Refusal::Resolved {
            host: host.to_string(),
            ip,
            why,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
