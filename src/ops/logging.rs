//! Log set-up. Logs go to standard error: human-readable text by default, one JSON object per
//! line with `log_format: json`. Inside a request every line carries the `request` span
//! (request id, method, route template).

use crate::config::LogFormat;

/// Installs the global subscriber; the level filter comes from `GATEHOUSE_LOG` (an env-filter
/// such as `info` or `gatehouse=debug,info`), default `info`.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GATEHOUSE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        // The current span only: the request span is the outermost, so the list adds nothing.
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
