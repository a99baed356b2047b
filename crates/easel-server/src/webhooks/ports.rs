//! Port ranges, as `webhooks.test_mode_loopback_ports` lists them: which loopback ports
//! test-mode endpoints may be delivered to.
//!
//! A config entry is a port (`8080`) or an inclusive range (`"3000-3999"`), so an operator
//! can open one receiver's port on a shared installation, or every port
//! (`"1-65535"`) on a laptop, in one list.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};

/// An inclusive range of TCP ports, never containing port 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    first: u16,
    last: u16,
}

impl PortRange {
    /// The range `first..=last`, if it is one (1 ≤ first ≤ last).
    pub fn new(first: u16, last: u16) -> Option<PortRange> {
        (first >= 1 && first <= last).then_some(PortRange { first, last })
    }

    /// Whether `port` is in the range.
    pub fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }

    fn parse(text: &str) -> Option<PortRange> {
        let port = |s: &str| s.trim().parse::<u16>().ok();
        match text.split_once('-') {
            Some((first, last)) => PortRange::new(port(first)?, port(last)?),
            None => port(text).and_then(|p| PortRange::new(p, p)),
        }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// The ranges as a developer reads them in a refusal: `3000, 8000-8999`.
pub fn list(ranges: &[PortRange]) -> String {
    ranges
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

const EXPECTED: &str = "a port (1 to 65535) or a range such as \"3000-3999\"";

impl<'de> serde::Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<PortRange, D::Error> {
        deserializer.deserialize_any(PortVisitor)
    }
}

struct PortVisitor;

impl Visitor<'_> for PortVisitor {
    type Value = PortRange;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortRange, E> {
        u16::try_from(v)
            .ok()
            .and_then(|p| PortRange::new(p, p))
            .ok_or_else(|| E::invalid_value(de::Unexpected::Unsigned(v), &EXPECTED))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortRange, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::invalid_value(de::Unexpected::Signed(v), &EXPECTED)),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<PortRange, E> {
        PortRange::parse(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &EXPECTED))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml: &str) -> Result<Vec<PortRange>, String> {
        #[derive(serde::Deserialize)]
        struct Ports {
            ports: Vec<PortRange>,
        }
        toml::from_str::<Ports>(&format!("ports = {toml}"))
            .map(|p| p.ports)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn ports_and_ranges_parse_from_numbers_and_strings() {
        let ranges =
            parse(r#"[8080, "3000-3999", " 9000 ", "1-65535"]"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ranges.len(), 4);
        assert_eq!(list(&ranges), "8080, 3000-3999, 9000, 1-65535");
        assert!(ranges[0].contains(8080) && !ranges[0].contains(8081));
        assert!(ranges[1].contains(3000) && ranges[1].contains(3999));
        assert!(!ranges[1].contains(2999) && !ranges[1].contains(4000));
        assert!(ranges[3].contains(1) && ranges[3].contains(65535));
    }

    #[test]
    fn no_port_zero_no_reversed_range_no_words() {
        for bad in [
            "[0]",
            "[65536]",
            "[-1]",
            r#"["0-10"]"#,
            r#"["10-5"]"#,
            r#"["any"]"#,
            r#"["80-"]"#,
            r#"[""]"#,
            "[1.5]",
        ] {
            let parsed = parse(bad);
            assert!(parsed.is_err(), "{bad} parsed as {parsed:?}");
        }
    }
}
