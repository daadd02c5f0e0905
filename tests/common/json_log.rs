//! Reads back what aws-init logs with `--log-format json`, so that a test
//! written against the text format can check the JSON format says the same.

use serde_json::Value;

/// One event as a JSON line holds it.
#[derive(Debug, PartialEq, Eq)]
pub struct Event {
    /// RFC 3339 in UTC, to the millisecond.
    pub time: String,
    pub level: String,
    pub pid: u32,
    pub message: String,
}

/// Parses one line of stderr, failing the test unless it is a JSON object
/// with exactly the fields aws-init writes, each of the right type.
pub fn parse(line: &str) -> Event {
    let value: Value =
        serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line:?}"));
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {line:?}"));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["level", "message", "pid", "source", "time"],
        "{line:?}"
    );
    assert_eq!(object["source"], "aws-init", "{line:?}");
    let text = |key: &str| {
        object[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} is not a string: {line:?}"))
            .to_owned()
    };
    let time = text("time");
    let shape = time.len() == 24
        && time.bytes().enumerate().all(|(at, byte)| match at {
            4 | 7 => byte == b'-',
            10 => byte == b'T',
            13 | 16 => byte == b':',
            19 => byte == b'.',
            23 => byte == b'Z',
            _ => byte.is_ascii_digit(),
        });
    assert!(shape, "not YYYY-MM-DDTHH:MM:SS.mmmZ: {line:?}");
    Event {
        time,
        level: text("level"),
        pid: object["pid"]
            .as_u64()
            .and_then(|pid| u32::try_from(pid).ok())
            .unwrap_or_else(|| panic!("pid is not a process id: {line:?}")),
        message: text("message"),
    }
}

/// The line the text format gives for `event`.
pub fn as_text(event: &Event) -> String {
    let tag = match event.level.as_str() {
        "error" => "error: ",
        "warn" => "warning: ",
        "info" => "",
        "debug" => "debug: ",
        other => panic!("unknown level {other:?}"),
    };
    format!("aws-init: {tag}{}", event.message)
}

/// Turns every JSON line of `stderr` into its text line, so that checks
/// written for the text format apply unchanged.
pub fn to_text(stderr: &str) -> String {
    stderr
        .lines()
        .map(|line| as_text(&parse(line)) + "\n")
        .collect()
}
