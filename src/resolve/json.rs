//! Picks one value out of JSON held in a secret: a top-level key of an
//! object, or whatever an RFC 6901 JSON pointer (`/db/hosts/0`) names in
//! nested objects and arrays.
//!
//! Strings come out decoded. Every other value comes out as its own JSON
//! text with the whitespace between tokens removed, so numbers stay exactly
//! as written (`12345678901234567890` is never rounded through a float) and
//! object keys keep their order. Only the picked value is copied out of the
//! secret's text.

use std::collections::HashMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use thiserror::Error;

use crate::reference;
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
    #[error("the value is not valid JSON, so nothing is at JSON pointer `{0}`")]
    PointerNotJson(String),
    #[error("nothing is at JSON pointer `{pointer}`: {at} {reason}")]
    PointerMissing {
        pointer: String,
        /// Where the pointer stopped matching: the part that matched, in
        /// backticks, or "the top level".
        at: String,
        reason: &'static str,
    },
    #[error("the JSON value at pointer `{0}` is null")]
    PointerNull(String),
    #[error("the value is not valid JSON, so it has no keys to load")]
    WholeNotJson,
    #[error("the value is JSON but not an object, so it has no keys to load")]
    WholeNotAnObject,
    #[error("the JSON object has the key `{0}` more than once; keep one")]
    RepeatedKey(String),
}

/// Returns the value that `key` names in the JSON in `text`: a JSON
/// pointer when it starts with `/`, else a top-level key of an object.
pub fn extract(text: &[u8], key: &str) -> Result<Secret, JsonError> {
    if key.starts_with('/') {
        return follow(text, key);
    }
    extract_key(text, key)
}

/// Returns the value under `key` of the JSON object in `text`.
fn extract_key(text: &[u8], key: &str) -> Result<Secret, JsonError> {
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
        _ => value_of(raw).ok_or_else(not_json),
    }
}

/// Every top-level key of the JSON object in `text` with its value, by the
/// same rules as [`extract`], in key order. A null is an error, and so is
/// a key given twice: each key becomes a variable, which takes one value.
pub fn entries(text: &[u8]) -> Result<Vec<(String, Secret)>, JsonError> {
    let text = std::str::from_utf8(text).map_err(|_| JsonError::WholeNotJson)?;
    let document: &RawValue = serde_json::from_str(text).map_err(|_| JsonError::WholeNotJson)?;
    if !document.get().starts_with('{') {
        return Err(JsonError::WholeNotAnObject);
    }
    let Members(mut members) =
        serde_json::from_str(document.get()).map_err(|_| JsonError::WholeNotJson)?;
    members.sort_by(|(a, _), (b, _)| a.cmp(b));
    if let Some(pair) = members.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(JsonError::RepeatedKey(pair[0].0.clone()));
    }
    members
        .into_iter()
        .map(|(key, raw)| match raw.get().as_bytes().first() {
            Some(b'n') => Err(JsonError::Null(key)),
            _ => value_of(raw.get())
                .map(|value| (key, value))
                .ok_or(JsonError::WholeNotJson),
        })
        .collect()
}

/// The members of a JSON object as written, a repeated key included: a
/// map would keep only the last of them without a word.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Collect;

        impl<'de> Visitor<'de> for Collect {
            type Value = Members<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }

        deserializer.deserialize_map(Collect)
    }
}

/// A picked JSON value as the command gets it: a string decoded, anything
/// else as minified JSON text. `None` when the text is not valid JSON.
fn value_of(raw: &str) -> Option<Secret> {
    match raw.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(raw)
            .ok()
            .map(Secret::from_string),
        _ => Some(Secret::new(minify(raw))),
    }
}

/// Returns the value that JSON pointer `pointer` names in `text`.
fn follow(text: &[u8], pointer: &str) -> Result<Secret, JsonError> {
    let not_json = || JsonError::PointerNotJson(pointer.to_owned());
    let missing = |at: &str, reason| JsonError::PointerMissing {
        pointer: pointer.to_owned(),
        at: if at.is_empty() {
            "the top level".to_owned()
        } else {
            format!("`{at}`")
        },
        reason,
    };
    // The reference parser has checked the escapes already.
    let tokens = reference::pointer_tokens(pointer).ok_or_else(not_json)?;
    let text = std::str::from_utf8(text).map_err(|_| not_json())?;
    let mut current: &RawValue = serde_json::from_str(text).map_err(|_| not_json())?;
    // How much of the pointer has matched so far, as written.
    let mut matched = 0;
    let written: Vec<&str> = pointer[1..].split('/').collect();
    for (token, as_written) in tokens.iter().zip(&written) {
        let at = &pointer[..matched];
        current = match current.get().as_bytes().first() {
            Some(b'{') => {
                let mut object: HashMap<String, &RawValue> =
                    serde_json::from_str(current.get()).map_err(|_| not_json())?;
                object
                    .remove(token.as_str())
                    .ok_or_else(|| missing(at, "has no such key"))?
            }
            Some(b'[') => {
                let array: Vec<&RawValue> =
                    serde_json::from_str(current.get()).map_err(|_| not_json())?;
                array_index(token)
                    .and_then(|index| array.get(index).copied())
                    .ok_or_else(|| missing(at, "is an array without that index"))?
            }
            _ => return Err(missing(at, "is neither an object nor an array")),
        };
        matched += 1 + as_written.len();
    }
    match current.get().as_bytes().first() {
        Some(b'n') => Err(JsonError::PointerNull(pointer.to_owned())),
        _ => value_of(current.get()).ok_or_else(not_json),
    }
}

/// An array index as RFC 6901 writes one: digits without a leading zero.
/// `-`, the element past the end, names nothing that could be read.
fn array_index(token: &str) -> Option<usize> {
    let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    if !digits || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    token.parse().ok()
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

    const NESTED: &str = r#"{"db":{"hosts":["a.example","b.example"],"port":5432,
        "creds":{"user":"app","pass":"pw-2"},"none":null},
        "a/b":{"m~n":"escaped"},"":{"":"empty keys"},"01":"zero-one"}"#;

    #[test]
    fn pointers_walk_objects_and_arrays() {
        assert_eq!(get(NESTED, "/db/creds/pass").unwrap(), "pw-2");
        assert_eq!(get(NESTED, "/db/hosts/1").unwrap(), "b.example");
        assert_eq!(get(NESTED, "/db/port").unwrap(), "5432");
        assert_eq!(
            get(NESTED, "/db/hosts").unwrap(),
            r#"["a.example","b.example"]"#
        );
        assert_eq!(
            get(NESTED, "/db/creds").unwrap(),
            r#"{"user":"app","pass":"pw-2"}"#
        );
        assert_eq!(get(NESTED, "/01").unwrap(), "zero-one");
    }

    #[test]
    fn pointer_escapes_are_decoded() {
        assert_eq!(get(NESTED, "/a~1b/m~0n").unwrap(), "escaped");
        assert_eq!(get(NESTED, "//").unwrap(), "empty keys");
    }

    #[test]
    fn pointer_failures_say_where_they_stopped() {
        for (pointer, at, reason) in [
            ("/db/nope", "`/db`", "has no such key"),
            ("/nope/x", "the top level", "has no such key"),
            (
                "/db/hosts/2",
                "`/db/hosts`",
                "is an array without that index",
            ),
            (
                "/db/hosts/01",
                "`/db/hosts`",
                "is an array without that index",
            ),
            (
                "/db/hosts/-",
                "`/db/hosts`",
                "is an array without that index",
            ),
            (
                "/db/port/x",
                "`/db/port`",
                "is neither an object nor an array",
            ),
        ] {
            let expected = JsonError::PointerMissing {
                pointer: pointer.into(),
                at: at.into(),
                reason,
            };
            assert_eq!(get(NESTED, pointer), Err(expected), "{pointer}");
        }
        assert_eq!(
            get(NESTED, "/db/none"),
            Err(JsonError::PointerNull("/db/none".into()))
        );
        assert_eq!(
            get("pw-2 not json", "/a"),
            Err(JsonError::PointerNotJson("/a".into()))
        );
        assert_eq!(
            get("\"pw-2\"", "/a").unwrap_err().to_string(),
            "nothing is at JSON pointer `/a`: the top level is neither an object nor an array"
        );
    }

    #[test]
    fn entries_are_every_top_level_key() {
        let found = entries(br#"{"b":"two","a":1,"o":{"x":[1, 2]}}"#).unwrap();
        let shown: Vec<(String, String)> = found
            .into_iter()
            .map(|(key, value)| (key, String::from_utf8(value.expose().to_vec()).unwrap()))
            .collect();
        assert_eq!(
            shown,
            [
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "two".to_owned()),
                ("o".to_owned(), r#"{"x":[1,2]}"#.to_owned()),
            ]
        );
        assert_eq!(entries(b"[1]").err(), Some(JsonError::WholeNotAnObject));
        assert_eq!(entries(b"pw not json").err(), Some(JsonError::WholeNotJson));
        assert_eq!(
            entries(br#"{"k":null}"#).err(),
            Some(JsonError::Null("k".into()))
        );
    }

    #[test]
    fn entries_refuse_a_repeated_key_without_showing_a_value() {
        let text = br#"{"a":"pw-1","k":"pw-2","b":{"k":1,"k":2},"k":"pw-3"}"#;
        let error = entries(text).err();
        assert_eq!(error, Some(JsonError::RepeatedKey("k".into())));
        let shown = error.map(|error| error.to_string()).unwrap_or_default();
        assert_eq!(
            shown,
            "the JSON object has the key `k` more than once; keep one"
        );
        // A key repeated inside a nested value is that value's business.
        assert!(entries(br#"{"b":{"k":1,"k":2}}"#).is_ok());
        // An escape that decodes to the same key is the same key.
        assert_eq!(
            entries(br#"{"k":"1","\u006b":"2"}"#).err(),
            Some(JsonError::RepeatedKey("k".into()))
        );
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
