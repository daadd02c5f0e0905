//! The options after `?` in a reference: which version of a secret to read
//! (`version-stage=`, `version-id=`), and what a reference gives when its
//! secret or parameter does not exist (`optional`, `default=`).

use std::borrow::Cow;
use std::fmt;

use zeroize::Zeroizing;

use super::{ReferenceError, SecretVersion};

/// What a reference gives when its secret or parameter does not exist.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Missing {
    /// Fail closed, as for every other error.
    #[default]
    Fail,
    /// `?optional`: leave the variable unset.
    Unset,
    /// `?default=VALUE`: use VALUE, percent-decoded. It is kept and wiped
    /// like a secret, and never shown.
    Default(Zeroizing<Vec<u8>>),
}

impl fmt::Debug for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::Fail => write!(f, "Fail"),
            Missing::Unset => write!(f, "Unset"),
            Missing::Default(value) => write!(f, "Default([redacted, {} bytes])", value.len()),
        }
    }
}

/// The options of one reference.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub version: SecretVersion,
    pub missing: Missing,
}

/// The options a secret takes, for error messages.
pub const SECRET_OPTIONS: &str = "version-stage=, version-id=, optional or default=";
/// The options a parameter takes, for error messages.
pub const PARAMETER_OPTIONS: &str = "optional or default=";

/// Parses `text`, the part after `?`: options joined by `&`. Version
/// selectors are taken only when `versions` is set, for secrets.
pub fn parse(text: &str, versions: bool) -> Result<Options, ReferenceError> {
    let mut options = Options::default();
    let mut optional = false;
    let mut default = None;
    for option in text.split('&') {
        let (name, value) = match option.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (option, None),
        };
        match name {
            "version-stage" | "version-id" if !versions => {
                return Err(ReferenceError::VersionOnParameter);
            }
            "version-stage" | "version-id" => {
                let (slot, name) = if name == "version-stage" {
                    (&mut options.version.stage, "version-stage")
                } else {
                    (&mut options.version.id, "version-id")
                };
                let value = value.filter(|value| !value.is_empty());
                let value = value.ok_or(ReferenceError::EmptySelector(name))?;
                if slot.replace(value.to_owned()).is_some() {
                    return Err(ReferenceError::RepeatedSelector(name));
                }
            }
            "optional" => {
                if value.is_some() {
                    return Err(ReferenceError::OptionTakesNoValue("optional"));
                }
                if std::mem::replace(&mut optional, true) {
                    return Err(ReferenceError::RepeatedSelector("optional"));
                }
            }
            "default" => {
                // An empty default is a value like any other.
                let decoded =
                    percent_decode(value.unwrap_or_default()).ok_or(ReferenceError::BadPercent)?;
                if decoded.contains(&0) {
                    return Err(ReferenceError::NulInDefault);
                }
                if default.replace(decoded).is_some() {
                    return Err(ReferenceError::RepeatedSelector("default"));
                }
            }
            _ => {
                // Only what reads as an option's name is shown: an option
                // with no `=` may be a default whose `=` went missing.
                let shown = match value {
                    Some(_) => safe_name(name),
                    None => REDACTED,
                };
                return Err(ReferenceError::UnknownOption {
                    name: shown.to_owned(),
                    expected: if versions {
                        SECRET_OPTIONS
                    } else {
                        PARAMETER_OPTIONS
                    },
                });
            }
        }
    }
    // AWS gives the same error for a version that does not exist as for a
    // secret that does not, so a stand-in would hide a wrong version.
    let versioned = options.version != SecretVersion::default();
    if versioned && (optional || default.is_some()) {
        return Err(ReferenceError::VersionAndStandIn);
    }
    options.missing = match (optional, default) {
        (true, Some(_)) => return Err(ReferenceError::OptionalAndDefault),
        (true, None) => Missing::Unset,
        (false, Some(value)) => Missing::Default(value),
        (false, None) => Missing::Fail,
    };
    Ok(options)
}

/// Decodes `%XX` escapes; every other byte stands for itself. `None` for
/// a `%` not followed by two hex digits.
fn percent_decode(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let bytes = text.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len()));
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = bytes.get(at + 1..at + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    Some(out)
}

/// What log lines show in place of text that may be a secret.
pub const REDACTED: &str = "<redacted>";

/// `name` when it reads as an option's name (letters, digits, `-` and `_`,
/// at most 32), else [`REDACTED`].
fn safe_name(name: &str) -> &str {
    let plain = (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    if plain { name } else { REDACTED }
}

/// `raw`, a value as written, for log lines and errors: the value of every
/// option but the version selectors is replaced, since a default is a
/// secret, and so may be whatever a misspelt option holds.
pub fn shown(raw: &str) -> Cow<'_, str> {
    let (before_key, key) = raw.split_at(raw.find('#').unwrap_or(raw.len()));
    let Some((target, options)) = before_key.split_once('?') else {
        return Cow::Borrowed(raw);
    };
    let options: Vec<Cow<'_, str>> = options
        .split('&')
        .map(|option| match option.split_once('=') {
            Some(("version-stage" | "version-id", _)) => Cow::Borrowed(option),
            Some((name, _)) => Cow::Owned(format!("{}={REDACTED}", safe_name(name))),
            None if option == "optional" => Cow::Borrowed(option),
            None => Cow::Borrowed(REDACTED),
        })
        .collect();
    Cow::Owned(format!("{target}?{}{key}", options.join("&")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default(bytes: &[u8]) -> Missing {
        Missing::Default(Zeroizing::new(bytes.to_vec()))
    }

    #[test]
    fn options_parse() {
        let parsed = parse("optional", true).unwrap();
        assert_eq!(parsed.missing, Missing::Unset);
        let parsed = parse("default=a%20b%2Fc+d", false).unwrap();
        assert_eq!(parsed.missing, default(b"a b/c+d"));
        let parsed = parse("default=", false).unwrap();
        assert_eq!(parsed.missing, default(b""));
        let parsed = parse("version-stage=S", true).unwrap();
        assert_eq!(parsed.version.stage.as_deref(), Some("S"));
        assert_eq!(parsed.missing, Missing::Fail);
        assert_eq!(
            parse("default=%ff", false).unwrap().missing,
            default(b"\xff")
        );
    }

    #[test]
    fn bad_options_are_errors() {
        for (text, versions, error) in [
            (
                "optional&default=x",
                true,
                ReferenceError::OptionalAndDefault,
            ),
            (
                "optional=yes",
                true,
                ReferenceError::OptionTakesNoValue("optional"),
            ),
            (
                "optional&optional",
                true,
                ReferenceError::RepeatedSelector("optional"),
            ),
            (
                "default=a&default=b",
                true,
                ReferenceError::RepeatedSelector("default"),
            ),
            ("default=%2", true, ReferenceError::BadPercent),
            ("default=%zz", true, ReferenceError::BadPercent),
            ("default=a%00b", true, ReferenceError::NulInDefault),
            ("version-stage=S", false, ReferenceError::VersionOnParameter),
            (
                "version-stage=S&optional",
                true,
                ReferenceError::VersionAndStandIn,
            ),
            (
                "default=x&version-id=I",
                true,
                ReferenceError::VersionAndStandIn,
            ),
            (
                "default%3Dhunter2",
                true,
                ReferenceError::UnknownOption {
                    name: REDACTED.into(),
                    expected: SECRET_OPTIONS,
                },
            ),
            (
                "defualt=hunter2",
                false,
                ReferenceError::UnknownOption {
                    name: "defualt".into(),
                    expected: PARAMETER_OPTIONS,
                },
            ),
        ] {
            assert_eq!(parse(text, versions), Err(error), "{text}");
        }
    }

    #[test]
    fn shown_hides_every_option_value_but_versions() {
        assert_eq!(
            shown("aws-secret:app?version-stage=S&default=hunter2#k=v?x"),
            "aws-secret:app?version-stage=S&default=<redacted>#k=v?x"
        );
        assert_eq!(
            shown("aws-ssm:/x?defualt=hunter2&optional"),
            "aws-ssm:/x?defualt=<redacted>&optional"
        );
        assert_eq!(
            shown("aws-secret:app#a?default=b"),
            "aws-secret:app#a?default=b"
        );
        assert_eq!(shown("plain"), "plain");
    }

    #[test]
    fn debug_hides_a_default() {
        assert_eq!(
            format!("{:?}", default(b"hunter2")),
            "Default([redacted, 7 bytes])"
        );
    }
}
