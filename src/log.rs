//! Writes aws-init's own log lines to stderr, one line per event, as text
//! or as JSON objects.
//!
//! Every text line starts with `aws-init:` so it can be told apart from the
//! command's output. Callers pass names, references, counts and durations,
//! never a value: nothing here can tell a secret from any other text, so the
//! rule is kept at the call sites.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

mod json;

/// How much aws-init says, from least to most.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
}

impl Level {
    /// Parses a level name as given to `--log-level`.
    pub fn parse(text: &str) -> Option<Level> {
        match text.to_ascii_lowercase().as_str() {
            "error" => Some(Level::Error),
            "warn" | "warning" => Some(Level::Warn),
            "info" => Some(Level::Info),
            "debug" => Some(Level::Debug),
            _ => None,
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// Sets the most verbose level that is printed.
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// How each line is laid out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// `aws-init: error: ...`, for people.
    #[default]
    Text,
    /// One JSON object a line, for CloudWatch Logs, Fluent Bit and the like.
    Json,
}

impl Format {
    /// Parses a format name as given to `--log-format`.
    pub fn parse(text: &str) -> Option<Format> {
        match text.to_ascii_lowercase().as_str() {
            "text" => Some(Format::Text),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

static JSON: AtomicBool = AtomicBool::new(false);

/// Sets how every later line is laid out, in this process and in the
/// children it forks from now on.
pub fn set_format(format: Format) {
    JSON.store(format == Format::Json, Ordering::Relaxed);
}

/// Tells whether a line at `level` would be printed.
pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Prints one line at `level`. Use the macros instead.
pub fn write(level: Level, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    // Names and references come from the environment and may hold a
    // newline; escaping control characters keeps one event on one line, so
    // no value can forge a line of its own. JSON gets the same text, so
    // that both formats say exactly the same thing.
    let message = escape(&args.to_string());
    let line = if JSON.load(Ordering::Relaxed) {
        json::line(level, &message, std::time::SystemTime::now())
    } else {
        let tag = match level {
            Level::Error => "error: ",
            Level::Warn => "warning: ",
            Level::Info => "",
            Level::Debug => "debug: ",
        };
        format!("aws-init: {tag}{message}\n")
    };
    // One write per line, so that lines from the init and the resolving
    // child never interleave mid-line on a shared stderr.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Escapes the control characters in `text`, newlines included, so that
/// it prints as one line whatever it holds.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    escaped
}

macro_rules! error {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Error, format_args!($($arg)*)) };
}
macro_rules! warning {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Warn, format_args!($($arg)*)) };
}
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Info, format_args!($($arg)*)) };
}
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Debug, format_args!($($arg)*)) };
}
pub(crate) use {debug, error, info, warning as warn};

#[cfg(test)]
mod tests {
    /// The SDK logs through `tracing`, and some crates through `log`; both
    /// are compiled out (see Cargo.toml), so a request or a response body
    /// cannot be printed whatever the environment says.
    #[test]
    fn the_dependencies_log_nothing() {
        use tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
        assert_eq!(STATIC_MAX_LEVEL, LevelFilter::OFF);
        assert_eq!(::log::STATIC_MAX_LEVEL, ::log::LevelFilter::Off);
    }
}
