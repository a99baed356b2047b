//! The delivery clients' DNS resolver: every address a host name resolves to is vetted by
//! [`super::ssrf`]'s rules before any connection, and the connection goes to one of
//! those addresses, so a second lookup (DNS rebinding) never happens.

use std::net::SocketAddr;

use super::ssrf::{Allowances, Refusal, is_loopback, is_loopback_name, vet_address};

/// A DNS resolver for the delivery client that resolves each name once and refuses the
/// connection if *any* of its addresses is denied (a name that answers both a public and
/// a private address is an attack, not a choice). IP-literal URLs never reach a resolver;
/// `ssrf::check_url` checked those.
#[derive(Clone)]
pub struct GuardedResolver {
    allow: Allowances,
    /// Test-mode client with loopback enabled: `localhost` names may resolve to loopback
    /// addresses (their port was checked against the operator's list with the URL).
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
    pub async fn vet(&self, host: &str) -> Result<Vec<SocketAddr>, Refusal> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
            .await
            .map_err(|_| Refusal::Unresolvable)?
            .collect();
        if addrs.is_empty() {
            return Err(Refusal::Unresolvable);
        }
        let named_loopback = is_loopback_name(&host);
        let private_ok = self.allow.host(&host);
        for addr in &addrs {
            let ip = addr.ip();
            if self.loopback_names && named_loopback && is_loopback(ip) {
                continue;
            }
            vet_address(&host, ip, private_ok, &self.allow)?;
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
            matches!(&vetted, Err(Refusal::Resolved { host, why: "loopback", .. }) if host == "localhost"),
            "{vetted:?}"
        );
        // The developer's message names no address; the log gets it from `address()`.
        let refusal = vetted.err().unwrap_or(Refusal::Invalid);
        assert!(!refusal.to_string().contains("127.0.0.1"), "{refusal}");
        assert_eq!(
            refusal.address().map(|(ip, _)| ip),
            Some(std::net::IpAddr::from([127, 0, 0, 1]))
        );
        assert_eq!(
            GuardedResolver::new(Allowances::default(), false)
                .vet("no-such-host.invalid")
                .await,
            Err(Refusal::Unresolvable)
        );
    }
}
