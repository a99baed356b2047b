//! The server's warnings as text, for tests of what reaches the operator's log (and what
//! must reach only it). One global subscriber serves the whole test binary: tests find
//! their own lines by an id only they use.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// Everything logged at warn level or above since [`capture`] was first called.
static CAPTURED: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut all) = self.0.lock() {
            all.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Starts capturing warnings (once per test binary); call before starting the server.
pub fn capture() {
    CAPTURED.get_or_init(|| {
        let all = Arc::new(Mutex::new(Vec::new()));
        let sink = Sink(Arc::clone(&all));
        let installed = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .try_init();
        assert!(
            installed.is_ok(),
            "another global subscriber was installed first: {installed:?}"
        );
        all
    });
}

/// The captured lines that contain every one of `needles`.
pub fn lines_with(needles: &[&str]) -> Vec<String> {
    let text = CAPTURED
        .get()
        .and_then(|all| {
            all.lock()
                .ok()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
        })
        .unwrap_or_else(|| panic!("logs::capture() was not called"));
    text.lines()
        .filter(|line| needles.iter().all(|n| line.contains(n)))
        .map(str::to_string)
        .collect()
}
