//! Checks the proxy variables before the SDK's HTTP client reads them, and
//! words the failures of a proxy so that they name the variable behind it.
//!
//! The client (hyper-util's matcher, behind `ProxyConfig::from_env`) reads
//! `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY`, each before its
//! lower-case twin, as curl does. But it skips a value it cannot parse or
//! whose scheme it does not know, as if no proxy were set: the requests
//! then go straight out, where the user meant them to go through the
//! proxy, and where a firewall may be waiting to drop them. So a proxy
//! variable that the client would not use as written fails closed here,
//! naming the variable and never showing its value, which may hold a
//! password.

use std::error::Error as StdError;
use std::ffi::OsString;

use aws_smithy_http_client::proxy::ProxyConfig;
use thiserror::Error;

/// The proxy for plain-HTTP endpoints, upper case first, then the
/// fallback for both kinds.
const HTTP: [&str; 4] = ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"];
/// The proxy for HTTPS endpoints, reached with CONNECT, likewise.
const HTTPS: [&str; 4] = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];
/// Every proxy variable the client reads, as upper- and lower-case pairs.
const PAIRS: [[&str; 2]; 4] = [
    ["HTTP_PROXY", "http_proxy"],
    ["HTTPS_PROXY", "https_proxy"],
    ["ALL_PROXY", "all_proxy"],
    ["NO_PROXY", "no_proxy"],
];

/// Why the proxy variables cannot be used as they are set.
#[derive(Clone, Debug, Error)]
pub enum ProxyError {
    #[error("{0} is not valid UTF-8; set it to a proxy URL such as http://HOST:PORT")]
    NotUnicode(&'static str),
    #[error(
        "{upper} and {lower} are both set, to different values; set one of them (the other SDKs \
         do not agree on which wins)"
    )]
    Conflict {
        upper: &'static str,
        lower: &'static str,
    },
    #[error(
        "{variable} is not a proxy URL the SDK can use ({reason}); set it to \
         http://HOST:PORT or http://USER:PASSWORD@HOST:PORT"
    )]
    Invalid {
        variable: &'static str,
        reason: &'static str,
    },
    #[error(
        "{0} names a proxy, but REQUEST_METHOD is set, which makes the SDK ignore every proxy \
         variable (a CGI safeguard); unset REQUEST_METHOD"
    )]
    Cgi(&'static str),
}

/// Checks the proxy variables that `var` reads, and returns the proxy
/// settings of the HTTP client. `var` must read the process's own
/// environment, which is what the client itself reads.
pub fn config(var: impl Fn(&str) -> Option<OsString>) -> Result<ProxyConfig, ProxyError> {
    let mut set = Vec::new();
    for [upper, lower] in PAIRS {
        let text = |name: &'static str| {
            var(name)
                .map(|value| {
                    value
                        .into_string()
                        .map_err(|_| ProxyError::NotUnicode(name))
                })
                .transpose()
        };
        match (text(upper)?, text(lower)?) {
            (Some(a), Some(b)) if a != b => return Err(ProxyError::Conflict { upper, lower }),
            (Some(value), _) => set.push((upper, value)),
            (None, Some(value)) => set.push((lower, value)),
            (None, None) => {}
        }
    }

    let proxies: Vec<_> = set
        .iter()
        .filter(|(name, value)| !name.eq_ignore_ascii_case("NO_PROXY") && !value.is_empty())
        .collect();
    let Some((first, _)) = proxies.first() else {
        return Ok(ProxyConfig::disabled());
    };
    for (variable, value) in &proxies {
        if let Err(reason) = usable(value) {
            let variable = *variable;
            return Err(ProxyError::Invalid { variable, reason });
        }
    }
    if var("REQUEST_METHOD").is_some() {
        return Err(ProxyError::Cgi(first));
    }

    // The client's `*` in NO_PROXY matches every host name but no IP
    // address; curl and the other SDKs read it as "no proxy at all".
    let no_proxy = set
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("NO_PROXY"));
    if no_proxy.is_some_and(|(_, value)| value.split(',').any(|entry| entry.trim() == "*")) {
        return Ok(ProxyConfig::disabled());
    }
    Ok(ProxyConfig::from_env())
}

/// Tells why the client would skip `value` as a proxy URL, if it would:
/// it takes what `http::Uri` parses with a host, and an `http` or `https`
/// scheme or none (meaning `http`). It also takes SOCKS schemes, only to
/// fail every connection with them.
fn usable(value: &str) -> Result<(), &'static str> {
    let uri: http::Uri = value.parse().map_err(|_| "not a valid URL")?;
    match uri.scheme_str() {
        None | Some("http" | "https") => {}
        Some(scheme) if scheme.starts_with("socks") => return Err("SOCKS is not supported"),
        Some(_) => return Err("the scheme is not http:// or https://"),
    }
    match uri.authority() {
        Some(authority) if !authority.host().is_empty() => Ok(()),
        _ => Err("no host"),
    }
}

/// The variable that names the proxy for `https` endpoints, if one does.
pub fn https_variable() -> Option<&'static str> {
    in_effect(&HTTPS)
}

/// The variable that names the proxy for `http` endpoints, if one does.
pub fn http_variable() -> Option<&'static str> {
    in_effect(&HTTP)
}

fn in_effect(names: &[&'static str]) -> Option<&'static str> {
    names
        .iter()
        .copied()
        .find(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
}

/// How a CONNECT tunnel through the proxy failed.
#[derive(Debug, PartialEq, Eq)]
pub enum Tunnel {
    /// The proxy answered 407: it wants credentials, or other ones.
    AuthRequired,
    /// The proxy answered some other status than 200.
    Refused,
    /// The proxy could not be reached; why, in the words of the cause.
    Unreachable(String),
    /// Anything else, in the client's words.
    Other(String),
}

/// Finds a failed CONNECT tunnel among the causes of `error`. hyper-util
/// keeps its tunnel error type private, so it is known by its text, which
/// starts with `tunnel error: `.
pub fn tunnel_failure(error: &(dyn StdError + 'static)) -> Option<Tunnel> {
    let mut next = Some(error);
    while let Some(error) = next {
        let text = error.to_string();
        if let Some(what) = text.strip_prefix("tunnel error: ") {
            return Some(match what {
                "proxy authorization required" => Tunnel::AuthRequired,
                "unsuccessful" => Tunnel::Refused,
                "failed to create underlying connection" => {
                    Tunnel::Unreachable(below(error).unwrap_or_else(|| what.to_owned()))
                }
                _ => Tunnel::Other(text),
            });
        }
        next = error.source();
    }
    None
}

/// Joins the `Display` of every cause below `error`, if it has any.
fn below(error: &dyn StdError) -> Option<String> {
    let mut parts = Vec::new();
    let mut next = error.source();
    while let Some(cause) = next {
        parts.push(cause.to_string());
        next = cause.source();
    }
    (!parts.is_empty()).then(|| parts.join(": "))
}

impl Tunnel {
    /// Says what happened, naming the variable that names the proxy.
    pub fn describe(&self) -> String {
        let proxy = match https_variable() {
            Some(variable) => format!("the proxy in {variable}"),
            None => "the proxy".to_owned(),
        };
        match self {
            Tunnel::AuthRequired => format!(
                "{proxy} refused the tunnel with 407 Proxy Authentication Required; \
                 give it credentials as http://USER:PASSWORD@HOST:PORT"
            ),
            Tunnel::Refused => format!("{proxy} refused the tunnel (CONNECT) to the endpoint"),
            Tunnel::Unreachable(why) => format!("cannot connect to {proxy}: {why}"),
            Tunnel::Other(text) => format!("{proxy} failed: {text}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_the_client_would_skip_is_not_usable() {
        assert_eq!(usable("http://proxy:3128"), Ok(()));
        assert_eq!(usable("https://u:p@proxy:3128/"), Ok(()));
        assert_eq!(usable("proxy:3128"), Ok(()));
        assert_eq!(usable("http://bad host:1"), Err("not a valid URL"));
        assert_eq!(
            usable("ftp://proxy:21"),
            Err("the scheme is not http:// or https://")
        );
        assert_eq!(usable("socks5://proxy:1080"), Err("SOCKS is not supported"));
        assert_eq!(usable("/var/run/proxy"), Err("no host"));
        assert_eq!(usable("http://:3128"), Err("no host"));
    }
}
