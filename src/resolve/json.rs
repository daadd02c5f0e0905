//! Picks one top-level key out of a JSON object held in a secret.
//!
//! Strings come out decoded. Every other value comes out as its own JSON
//! text with the whitespace between tokens removed, so numbers stay exactly
//! as written (`12345678901234567890` is never rounded through a float) and
//! object keys keep their order. Only the picked value is copied out of the
//! secret's text.

use std::collections::HashMap;

use serde_json::value::RawValue;
use thiserror::Error;

use crate::secret::Secret;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum JsonError {
    // The parser's own message is left out: it can quote the text it
    // choked on, and that text is the secret.
    #[error("the value is not valid JSON, so it has no key `{0}`")]
    NotJson(String),
    #[error("the value is JSON but not an object, so it has no key `{0}`")]
    NotAnObject(String),
    #[error("the JSON object has no key `{0}`")]
    MissingKey(String),
    #[error("the JSON key `{0}` is null")]
    Null(String),
}

/// Returns the value under `key` of the JSON object in `text`.
pub fn extract(text: &[u8], key: &str) -> Result<Secret, JsonError> {
    let not_json = || JsonError::NotJson(key.to_owned());
    let text = std::str::from_utf8(text).map_err(|_| not_json())?;
    let document: &RawValue = serde_json::from_str(text).map_err(|_| not_json())?;
    if !document.get().starts_with('{') {
        return Err(JsonError::NotAnObject(key.to_owned()));
    }
    let mut object: HashMap<String, &RawValue> =
        serde_json::from_str(document.get()).map_err(|_| not_json())?;

    let raw = object
        .remove(key)
        .ok_or_else(|| JsonError::MissingKey(key.to_owned()))?
        .get();
    match raw.as_bytes().first() {
        Some(b'n') => Err(JsonError::Null(key.to_owned())),
        Some(b'"') => serde_json::from_str::<String>(raw)
            .map(Secret::from_string)
            .map_err(|_| not_json()),
        _ => Ok(Secret::new(minify(raw))),
    }
}

/// Drops the whitespace between the tokens of valid JSON text.
fn minify(raw: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut in_string = false;
    let mut escaped = false;
    for &byte in raw.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
        } else if byte == b'"' {
            in_string = true;
        } else if matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
            continue;
        }
        out.push(byte);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(text: &str, key: &str) -> Result<String, JsonError> {
        extract(text.as_bytes(), key)
            .map(|secret| String::from_utf8(secret.expose().to_vec()).unwrap())
    }

    const DB: &str = r#"{"port":5432,"password":"pw-1","tls":true,"opts":{"a":1}}"#;

    #[test]
    fn strings_come_out_unquoted() {
        assert_eq!(get(DB, "password").unwrap(), "pw-1");
    }

    #[test]
    fn non_strings_come_out_as_minified_json() {
        assert_eq!(get(DB, "port").unwrap(), "5432");
        assert_eq!(get(DB, "tls").unwrap(), "true");
        assert_eq!(get(DB, "opts").unwrap(), r#"{"a":1}"#);
        assert_eq!(
            get(r#"{"l": [1, "two", {"b": false}]}"#, "l").unwrap(),
            r#"[1,"two",{"b":false}]"#
        );
    }

    #[test]
    fn numbers_stay_exactly_as_written() {
        let text = r#"{"big":123456789012345678901234567890,"f":1.50,"e":1e400}"#;
        assert_eq!(get(text, "big").unwrap(), "123456789012345678901234567890");
        assert_eq!(get(text, "f").unwrap(), "1.50");
        assert_eq!(get(text, "e").unwrap(), "1e400");
    }

    #[test]
    fn nested_keys_keep_their_order() {
        let text = r#"{"o":{"z":1,"a":2,"m":{"y":0,"b":1}}}"#;
        assert_eq!(
            get(text, "o").unwrap(),
            r#"{"z":1,"a":2,"m":{"y":0,"b":1}}"#
        );
    }

    #[test]
    fn whitespace_inside_strings_survives_minifying() {
        let text = "{\"o\": { \"k\" : \"a b\\\" c\" ,\n\"n\": [ 1 , 2 ] } }";
        assert_eq!(get(text, "o").unwrap(), r#"{"k":"a b\" c","n":[1,2]}"#);
    }

    #[test]
    fn escapes_in_strings_are_decoded() {
        assert_eq!(get(r#"{"k":"a\nb\u00e9\"c"}"#, "k").unwrap(), "a\nbé\"c");
    }

    #[test]
    fn dotted_keys_are_plain_keys() {
        assert_eq!(get(r#"{"a.b":"x","a":{"b":"y"}}"#, "a.b").unwrap(), "x");
    }

    #[test]
    fn failures_name_the_key_only() {
        assert_eq!(get(DB, "nope"), Err(JsonError::MissingKey("nope".into())));
        assert_eq!(get(r#"{"k":null}"#, "k"), Err(JsonError::Null("k".into())));
        assert_eq!(
            get("not json pw-1", "k"),
            Err(JsonError::NotJson("k".into()))
        );
        assert_eq!(
            get(r#"["pw-1"]"#, "k"),
            Err(JsonError::NotAnObject("k".into()))
        );
        assert_eq!(get("\"s\"", "k"), Err(JsonError::NotAnObject("k".into())));
    }
}
