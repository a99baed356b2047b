//! Email addresses, parsed once at the edge.
//!
//! Deliberately conservative rather than RFC 5322-complete: one `@`, a dotted domain of
//! letters, digits and hyphens, no whitespace or control characters, at most 254 bytes.
//! Stored lower-cased so uniqueness cannot be dodged by case.

use crate::DomainError;

/// A syntactically valid, lower-cased email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Validates and normalises `raw`; `param` is the field name reported on failure.
    pub fn parse(raw: &str, param: &'static str) -> Result<Email, DomainError> {
        let bad = |why: &str| {
            DomainError::invalid(
                param,
                "email_invalid",
                format!("`{param}` is not a valid email address: {why}."),
            )
        };
        let s = raw.trim().to_lowercase();
        if s.is_empty() {
            return Err(bad("it is empty"));
        }
        if s.len() > 254 {
            return Err(bad("it is longer than 254 characters"));
        }
        let (local, domain) = s.split_once('@').ok_or_else(|| bad("it has no `@`"))?;
        if local.is_empty() || local.len() > 64 || domain.contains('@') {
            return Err(bad(
                "the part before `@` must be 1 to 64 characters and `@` must appear once",
            ));
        }
        if local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"(),:;<>[\\]".contains(c))
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
        {
            return Err(bad(
                "the part before `@` has characters that are not allowed",
            ));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err(bad("the domain must look like `example.com`"));
        }
        Ok(Email(s))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Consumes the wrapper.
    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises() {
        assert_eq!(
            Email::parse(" Ada@Example.COM ", "email").map(Email::into_inner),
            Ok("ada@example.com".into())
        );
        assert!(Email::parse("a.b+tag@sub.example.co.uk", "email").is_ok());
        let parsed = Email::parse("Grace@Example.org", "email");
        assert_eq!(parsed.as_ref().map(Email::as_str), Ok("grace@example.org"));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@exa mple.com",
            "a@-x.com",
            "a@x..com",
            ".a@x.com",
            "a..b@x.com",
            "a@x.com\u{0}",
            "a@\u{441}.com",
        ] {
            assert!(
                Email::parse(bad, "email").is_err(),
                "{bad:?} should be rejected"
            );
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long, "email").is_err());
    }

    /// A domain of `len` characters: labels of 63 (the most a label may have), then `.com`.
    fn domain(len: usize) -> String {
        let mut labels = Vec::new();
        let mut left = len - ".com".len();
        while left > 0 {
            let label = left.min(63);
            labels.push("d".repeat(label));
            left -= label;
            // The dot before the next label counts too.
            left = left.saturating_sub(1);
        }
        let domain = format!("{}.com", labels.join("."));
        assert_eq!(domain.len(), len, "{domain}");
        domain
    }

    #[test]
    fn lengths_are_accepted_up_to_the_limit_and_refused_one_past_it() {
        let ok = |s: &str| Email::parse(s, "email").is_ok();
        // 254 characters in all, with the longest local part: the most there can be.
        let longest = format!("{}@{}", "a".repeat(64), domain(254 - 65));
        assert_eq!(longest.len(), 254);
        assert!(ok(&longest), "254 characters");
        let too_long = format!("{}@{}", "a".repeat(64), domain(255 - 65));
        assert!(!ok(&too_long), "255 characters");
        // The local part: 64 characters, not 65.
        assert!(ok(&format!("{}@example.com", "a".repeat(64))));
        assert!(!ok(&format!("{}@example.com", "a".repeat(65))));
        // A domain label: 63 characters, not 64.
        assert!(ok(&format!("a@{}.com", "b".repeat(63))));
        assert!(!ok(&format!("a@{}.com", "b".repeat(64))));
        // Surrounding whitespace is trimmed before the length is counted.
        assert!(ok(&format!("  {longest}\n")));
    }

    #[test]
    fn an_empty_local_part_or_a_stray_dot_is_refused() {
        for bad in [
            "@example.com",
            " @example.com",
            "a.@example.com",
            "a@example.com.",
            "a@.example.com",
            "a@example-.com",
            "a\u{1}b@example.com",
            "a\"b@example.com",
            "a@b@example.com",
        ] {
            assert!(
                Email::parse(bad, "email").is_err(),
                "{bad:?} should be rejected"
            );
        }
        assert!(Email::parse("a.b@example.com", "email").is_ok());
        assert!(Email::parse("a@ex-ample.com", "email").is_ok());
    }
}
