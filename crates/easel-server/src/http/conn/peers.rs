//! The per-peer connection cap: how many connections one TCP peer may hold open at once.
//!
//! It counts the TCP peer, not a forwarded client address: behind a reverse proxy every
//! client shares the proxy's address, which is why operators can exempt blocks of peers.
//! IPv6 peers are counted per /64, the block a single host or customer usually gets, so
//! hopping between addresses of one block does not multiply the allowance.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};

use ipnet::IpNet;

/// Open connections per peer, with the cap and its exemptions.
#[derive(Debug)]
pub struct Peers {
    cap: usize,
    exempt: Vec<IpNet>,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl Peers {
    /// At most `cap` connections per peer (0: no cap), except for peers in `exempt`.
    pub fn new(cap: usize, exempt: Vec<IpNet>) -> Arc<Peers> {
        Arc::new(Peers {
            cap,
            exempt,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a slot for a connection from `ip`, or `None` if the peer is at its cap.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let ip = ip.to_canonical();
        if self.cap == 0 || self.exempt.iter().any(|net| net.contains(&ip)) {
            return Some(Slot {
                peers: None,
                key: ip,
            });
        }
        let key = client_network(ip);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(Slot {
            peers: Some(Arc::clone(self)),
            key,
        })
    }

    /// Connections open from `ip`'s peer key (for tests and diagnostics).
    pub fn open_from(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&client_network(ip)).copied().unwrap_or(0)
    }
}

/// The network one client is counted under, by every limit that counts clients (this
/// connection cap, console sign-in throttling, leaked-key reports): an IPv4 address (an
/// IPv4-mapped IPv6 address as its IPv4), or the /64 of an IPv6 address, the block one host
/// usually holds whole and could otherwise rotate through.
pub fn client_network(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        v4 @ IpAddr::V4(_) => v4,
        IpAddr::V6(v6) => {
            let block = u128::from(v6) & !u128::from(u64::MAX);
            IpAddr::V6(Ipv6Addr::from(block))
        }
    }
}

/// One admitted connection; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    peers: Option<Arc<Peers>>,
    key: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(peers) = &self.peers else {
            return;
        };
        let mut open = peers.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn a_peer_gets_at_most_cap_slots_and_gets_them_back() {
        let peers = Peers::new(2, vec![]);
        let a = peers.admit(ip("192.0.2.1"));
        let b = peers.admit(ip("192.0.2.1"));
        assert!(a.is_some() && b.is_some());
        assert!(peers.admit(ip("192.0.2.1")).is_none(), "third slot");
        assert!(peers.admit(ip("192.0.2.2")).is_some(), "another peer");
        drop(a);
        assert_eq!(peers.open_from(ip("192.0.2.1")), 1);
        assert!(peers.admit(ip("192.0.2.1")).is_some(), "a freed slot");
        drop(b);
    }

    #[test]
    fn ipv6_peers_count_per_64_and_mapped_ipv4_counts_as_ipv4() {
        let peers = Peers::new(1, vec![]);
        let _one = peers.admit(ip("2001:db8:1:2::1"));
        assert!(peers.admit(ip("2001:db8:1:2:ffff::9")).is_none());
        assert!(peers.admit(ip("2001:db8:1:3::1")).is_some());
        let _v4 = peers.admit(ip("198.51.100.7"));
        assert!(peers.admit(ip("::ffff:198.51.100.7")).is_none());
    }

    #[test]
    fn exempt_peers_and_a_zero_cap_are_not_counted() {
        let exempt = vec!["10.0.0.0/8".parse().unwrap_or_else(|e| panic!("{e}"))];
        let capped = Peers::new(1, exempt);
        let unlimited = Peers::new(0, vec![]);
        // Every slot is held while the next is asked for.
        let mut held = Vec::new();
        for _ in 0..5 {
            let exempt_slot = capped.admit(ip("10.1.2.3"));
            let uncapped_slot = unlimited.admit(ip("192.0.2.1"));
            assert!(exempt_slot.is_some() && uncapped_slot.is_some());
            held.push((exempt_slot, uncapped_slot));
        }
        assert_eq!(held.len(), 5);
        assert_eq!(capped.open_from(ip("10.1.2.3")), 0);
        assert!(capped.admit(ip("192.0.2.1")).is_some());
        assert!(
            capped.admit(ip("192.0.2.1")).is_some(),
            "the first slot was dropped"
        );
    }
}
