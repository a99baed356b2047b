//! The worker token as `easel worker` holds it: checked offline before the first call (a
//! mistyped or truncated token, or an API key passed by mistake, fails at once with a
//! reason instead of a 401 from the server), and never shown, whatever prints it.

use easel_core::api_key::KeyFormatError;
use easel_core::worker_token;

/// The token as given on the command line, not yet checked. Taken as it is so that a bad
/// one is refused by [`Token::parse`] in words that do not repeat it (a command-line
/// parser's error would quote the value).
#[derive(Clone)]
pub struct RawToken(String);

impl RawToken {
    /// For clap's `value_parser`: never fails.
    pub fn arg(raw: &str) -> Result<RawToken, std::convert::Infallible> {
        Ok(RawToken(raw.to_owned()))
    }

    /// Checks it.
    pub fn check(&self) -> Result<Token, String> {
        Token::parse(&self.0)
    }
}

impl std::fmt::Debug for RawToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawToken(<hidden>)")
    }
}

/// A worker token (`<prefix>_worker_…`). Its `Debug` and `Display` hide the secret, so
/// the parsed command line, a client or an error can be printed safely.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Checks the token's shape and checksum; the error says what is wrong without
    /// repeating the token.
    pub fn parse(raw: &str) -> Result<Token, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("the worker token is empty".to_owned());
        }
        // The prefix has no underscore (`api_key::prefix_is_valid`), so it ends at the first.
        let prefix = raw.split_once('_').map_or(raw, |(prefix, _)| prefix);
        worker_token::parse(prefix, raw).map_err(|e| {
            match e {
                KeyFormatError::Mode if raw.contains("_live_") || raw.contains("_test_") => {
                    "this is an API key, not a worker token (`<prefix>_worker_…`); an operator creates worker tokens"
                }
                KeyFormatError::Checksum => {
                    "the worker token's checksum does not match: it was mistyped or truncated"
                }
                _ => "this is not a worker token (`<prefix>_worker_…` followed by 49 letters and digits)",
            }
            .to_owned()
        })?;
        Ok(Token(raw.to_owned()))
    }

    /// The secret, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The part that is safe to show (`vs_worker_Ab3xQ9…`), as `worker list` shows it.
    pub fn display_prefix(&self) -> String {
        let cut = self
            .0
            .find("_worker_")
            .map_or(0, |at| at + "_worker_".len() + 6)
            .min(self.0.len());
        format!("{}…", &self.0[..cut])
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({})", self.display_prefix())
    }
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display_prefix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use easel_core::mode::Mode;

    #[test]
    fn a_generated_token_parses_and_never_prints() {
        let secret = worker_token::generate("vs").secret;
        let token = Token::parse(&format!("  {secret}\n")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(token.expose(), secret);
        let secret_part = &secret["vs_worker_".len() + 6..];
        for shown in [
            format!("{token:?}"),
            format!("{token}"),
            format!("{:?}", Some(&token)),
        ] {
            assert!(!shown.contains(secret_part), "{shown}");
            assert!(shown.contains("vs_worker_"), "{shown}");
        }
    }

    #[test]
    fn the_unchecked_argument_never_prints_either() {
        let secret = worker_token::generate("vs").secret;
        let raw = RawToken::arg(&secret).unwrap_or_else(|e| match e {});
        assert!(!format!("{raw:?}").contains(&secret[3..]));
        assert_eq!(raw.check().map(|t| t.expose().to_owned()), Ok(secret));
    }

    #[test]
    fn api_keys_typos_and_junk_are_refused_without_echoing_them() {
        let key = easel_core::api_key::generate("vs", Mode::Live).secret;
        let err = Token::parse(&key).expect_err("an API key is not a worker token");
        assert!(err.contains("API key"), "{err}");
        assert!(!err.contains(&key[8..]), "{err}");

        let secret = worker_token::generate("vs").secret;
        let swapped = if secret.ends_with('a') { 'b' } else { 'a' };
        let typo = format!("{}{swapped}", &secret[..secret.len() - 1]);
        let err = Token::parse(&typo).expect_err("a typo fails the checksum");
        assert!(err.contains("mistyped"), "{err}");
        assert!(!err.contains(&typo[12..]), "{err}");

        let err = Token::parse(&secret[..secret.len() - 3]).expect_err("truncated");
        assert!(err.contains("not a worker token"), "{err}");
        assert!(Token::parse("").is_err());
        assert!(Token::parse("worker").is_err());
    }
}
