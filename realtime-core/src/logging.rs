//! Logging to the terminal in one line (the `logging` feature, on by default).
//!
//! The server logs through `tracing`: where it listens, connections refused, protocol
//! errors, slow consumers. Nothing is printed until a subscriber is installed; this installs
//! the usual one:
//!
//! ```no_run
//! realtime_core::logging::init(); // RUST_LOG=realtime_core=debug for the whole lifecycle
//! ```

use tracing_subscriber::EnvFilter;

/// Logs to stderr (in colour when it is a terminal), filtered by `RUST_LOG` (`info` when it is not set). Does nothing if the
/// program installed a subscriber already.
pub fn init() {
    init_with("info");
}

/// Like [`init`], with `default` as the filter when `RUST_LOG` is not set (`"warn"`,
/// `"my_app=debug,realtime_core=info"`, ...).
pub fn init_with(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only on a terminal: logs redirected to a file stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}
