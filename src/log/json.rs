//! Lays out a log line as one JSON object, for `--log-format json`.
//!
//! Written by hand rather than through serde: a line has a few fixed fields,
//! and the encoder must escape more than JSON demands (see
//! [`push_string`]) so that one event stays one line in any reader.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use super::Level;

/// The JSON object for one event, with its newline: when it happened, its
/// level, which program and process logged it, and the message.
pub fn line(level: Level, message: &str, now: SystemTime) -> String {
    let mut line = String::with_capacity(message.len() + 96);
    line.push('{');
    // A clock set before 1970 or after 9999 gives no time a log store could
    // read, so the field is left out rather than filled with a wrong one.
    if let Some(time) = rfc3339(now) {
        line.push_str("\"time\":\"");
        line.push_str(&time);
        line.push_str("\",");
    }
    let level = match level {
        Level::Error => "error",
        Level::Warn => "warn",
        Level::Info => "info",
        Level::Debug => "debug",
    };
    // The pid tells the init's lines from the resolving child's.
    let _ = write!(
        line,
        "\"level\":\"{level}\",\"source\":\"aws-init\",\"pid\":{},\"message\":",
        std::process::id()
    );
    push_string(&mut line, message);
    line.push_str("}\n");
    line
}

/// Appends `text` to `out` as a JSON string, quotes included. Besides the
/// quote, the backslash and the C0 controls that RFC 8259 requires, it
/// escapes DEL, the C1 controls and U+2028 and U+2029, which some readers
/// take for line breaks. Everything else, non-ASCII included, is copied as
/// UTF-8.
pub fn push_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Formats `time` as RFC 3339 in UTC to the millisecond, such as
/// `2026-12-04T17:07:19.123Z`, or None outside the years 1970 to 9999.
pub fn rfc3339(time: SystemTime) -> Option<String> {
    let since = time.duration_since(UNIX_EPOCH).ok()?;
    let seconds = since.as_secs();
    let (year, month, day) = civil_date(seconds / 86_400);
    if year > 9999 {
        return None;
    }
    let of_day = seconds % 86_400;
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        since.subsec_millis()
    ))
}

/// The Gregorian (year, month, day) that is `days` after 1970-01-01.
///
/// Counts in 400-year eras, which all have the same number of days, in
/// years that start on 1 March so that the leap day falls at the end.
fn civil_date(days: u64) -> (u64, u64, u64) {
    // 1970-01-01 is day 719468 counting from 0000-03-01.
    let days = days + 719_468;
    let era = days / 146_097;
    let of_era = days % 146_097;
    let year_of_era = (of_era - of_era / 1_460 + of_era / 36_524 - of_era / 146_096) / 365;
    let of_year = of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months from March, each run of five alternating 31 and 30 days long
    // but for the shorter February at the end.
    let month_from_march = (5 * of_year + 2) / 153;
    let day = of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn encoded(text: &str) -> String {
        let mut out = String::new();
        push_string(&mut out, text);
        out
    }

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        assert_eq!(encoded(r#"say "hi" \ bye"#), r#""say \"hi\" \\ bye""#);
        assert_eq!(encoded(""), r#""""#);
    }

    #[test]
    fn control_characters_are_escaped_so_one_event_is_one_line() {
        assert_eq!(
            encoded("a\nb\rc\td\0e\u{1b}f\u{7f}g\u{85}h\u{2028}i\u{2029}j"),
            r#""a\nb\rc\td\u0000e\u001bf\u007fg\u0085h\u2028i\u2029j""#
        );
    }

    #[test]
    fn non_ascii_text_is_kept_as_it_is() {
        assert_eq!(encoded("clé 密钥 🔑"), "\"clé 密钥 🔑\"");
    }

    #[test]
    fn every_encoding_reads_back_as_the_same_text() {
        let texts = [
            "plain",
            "\"quoted\" \\ and \u{1} \u{1f} \u{7f} \u{9f}",
            "line\nbreak\r\n\u{2028}\u{2029}",
            "clé 密钥 🔑",
        ];
        for text in texts {
            let out = encoded(text);
            assert!(!out.contains('\n') && !out.contains('\r'), "{out}");
            let back: String = serde_json::from_str(&out).unwrap();
            assert_eq!(back, text);
        }
    }

    #[test]
    fn times_are_rfc3339_utc_to_the_millisecond() {
        let at = |seconds: u64, millis: u64| {
            rfc3339(UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_millis(millis))
        };
        // Checked against `date -u -d @SECONDS`.
        assert_eq!(at(0, 0).as_deref(), Some("1970-01-01T00:00:00.000Z"));
        assert_eq!(
            at(951_782_400, 7).as_deref(),
            Some("2000-02-29T00:00:00.007Z")
        );
        assert_eq!(
            at(951_868_799, 999).as_deref(),
            Some("2000-02-29T23:59:59.999Z")
        );
        assert_eq!(
            at(4_107_542_399, 0).as_deref(),
            Some("2100-02-28T23:59:59.000Z")
        );
        assert_eq!(
            at(4_107_542_400, 0).as_deref(),
            Some("2100-03-01T00:00:00.000Z")
        );
        assert_eq!(
            at(1_796_404_039, 123).as_deref(),
            Some("2026-12-04T17:07:19.123Z")
        );
        assert_eq!(
            at(253_402_300_799, 0).as_deref(),
            Some("9999-12-31T23:59:59.000Z")
        );
        assert_eq!(at(253_402_300_800, 0), None);
        assert_eq!(rfc3339(UNIX_EPOCH - Duration::from_secs(1)), None);
    }

    #[test]
    fn a_line_is_one_object_with_its_fields() {
        let now = UNIX_EPOCH + Duration::from_secs(1_796_404_039);
        let text = line(Level::Warn, "X: cannot \"resolve\"", now);
        assert!(text.ends_with("}\n") && text.matches('\n').count() == 1);
        let object: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            object,
            serde_json::json!({
                "time": "2026-12-04T17:07:19.000Z",
                "level": "warn",
                "source": "aws-init",
                "pid": std::process::id(),
                "message": "X: cannot \"resolve\"",
            })
        );
    }
}
