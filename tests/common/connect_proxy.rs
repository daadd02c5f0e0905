//! A forward proxy on loopback, as a corporate egress proxy would be: it
//! tunnels `CONNECT host:port` and forwards absolute-form plain HTTP
//! requests, records each request it gets, and can demand credentials or
//! refuse everything.
//!
//! It only ever connects onward to 127.0.0.1: any other target is answered
//! with 403, so no run can leave loopback through it.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::GUARD;

/// How a request asked the proxy to reach its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `CONNECT host:port`, a tunnel for HTTPS.
    Connect,
    /// `METHOD http://host:port/path`, plain HTTP in absolute form.
    Forward,
}

/// One request the proxy got, whatever it answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub kind: Kind,
    /// The `host:port` the client asked for.
    pub target: String,
    /// The `Proxy-Authorization` header, if the client sent one.
    pub authorization: Option<String>,
}

/// What the proxy answers.
#[derive(Clone, Debug)]
enum Policy {
    /// Serve every request.
    Open,
    /// Serve only requests whose `Proxy-Authorization` is this; answer the
    /// others with 407.
    Credentials(String),
    /// Answer every request with this status.
    Refuse(u16),
}

/// A proxy on 127.0.0.1 that serves each connection on a thread of its own
/// for as long as the test process lives.
pub struct ConnectProxy {
    /// `http://127.0.0.1:PORT`, the value for `HTTPS_PROXY` and the like.
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl ConnectProxy {
    /// A proxy that serves everyone.
    pub fn open() -> ConnectProxy {
        ConnectProxy::start(Policy::Open)
    }

    /// A proxy that serves only requests with `Proxy-Authorization:
    /// Basic` and these credentials.
    pub fn requiring(credentials: &str) -> ConnectProxy {
        ConnectProxy::start(Policy::Credentials(format!(
            "Basic {}",
            STANDARD.encode(credentials)
        )))
    }

    /// A proxy that answers every request with `status`.
    pub fn refusing(status: u16) -> ConnectProxy {
        ConnectProxy::start(Policy::Refuse(status))
    }

    fn start(policy: Policy) -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let seen = Arc::clone(&shared);
                let policy = policy.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &policy, &seen);
                });
            }
        });
        ConnectProxy { url, seen }
    }

    /// Every request so far, in the order they arrived.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many requests of `kind` asked for `target`.
    pub fn count(&self, kind: Kind, target: &str) -> usize {
        self.seen()
            .iter()
            .filter(|seen| seen.kind == kind && seen.target == target)
            .count()
    }
}

/// A request line and its headers.
struct Head {
    method: String,
    target: String,
    /// Each header line as it came, without its line end.
    headers: Vec<String>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then_some(value.trim())
        })
    }
}

/// Reads a request line and headers; `None` if the client went away or
/// sent something that is not HTTP.
fn read_head(reader: &mut BufReader<TcpStream>) -> Option<Head> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            return Some(Head {
                method,
                target,
                headers,
            });
        }
        headers.push(line.to_owned());
    }
}

fn serve(client: TcpStream, policy: &Policy, seen: &Mutex<Vec<Seen>>) -> io::Result<()> {
    // A test that fails midway must not leave a thread blocked for ever.
    client.set_read_timeout(Some(GUARD))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let Some(head) = read_head(&mut reader) else {
        return Ok(());
    };
    let (kind, target, path) = if head.method.eq_ignore_ascii_case("CONNECT") {
        (Kind::Connect, head.target.clone(), String::new())
    } else if let Some(rest) = head.target.strip_prefix("http://") {
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/"),
        };
        (Kind::Forward, authority.to_owned(), path.to_owned())
    } else {
        // An origin-form request was meant for a server, not a proxy.
        return answer(&client, 400, "");
    };
    seen.lock().unwrap().push(Seen {
        kind,
        target: target.clone(),
        authorization: head.header("proxy-authorization").map(str::to_owned),
    });

    match policy {
        Policy::Open => {}
        Policy::Credentials(expected) => {
            if head.header("proxy-authorization") != Some(expected.as_str()) {
                return answer(&client, 407, "Proxy-Authenticate: Basic realm=\"test\"\r\n");
            }
        }
        Policy::Refuse(status) => return answer(&client, *status, ""),
    }
    let Some(port) = loopback_port(&target) else {
        return answer(&client, 403, "");
    };
    let upstream = TcpStream::connect(("127.0.0.1", port))?;
    upstream.set_read_timeout(Some(GUARD))?;

    match kind {
        Kind::Connect => {
            (&client).write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
            // Bytes the client sent after the head, already buffered.
            (&upstream).write_all(reader.buffer())?;
            let (mut from_client, mut to_upstream) = (client.try_clone()?, upstream.try_clone()?);
            let forth = std::thread::spawn(move || {
                let _ = io::copy(&mut from_client, &mut to_upstream);
                let _ = to_upstream.shutdown(Shutdown::Write);
            });
            let _ = io::copy(&mut &upstream, &mut &client);
            let _ = client.shutdown(Shutdown::Both);
            let _ = forth.join();
            Ok(())
        }
        Kind::Forward => forward(&head, &path, reader, &client, &upstream),
    }
}

/// The port of `target` if it is `127.0.0.1:PORT`, the one host the proxy
/// connects to.
fn loopback_port(target: &str) -> Option<u16> {
    let (host, port) = target.rsplit_once(':')?;
    (host == "127.0.0.1").then_some(())?;
    port.parse().ok()
}

/// Sends a plain HTTP request on in origin form, without the proxy's own
/// headers, and passes the response back. Each connection carries one
/// request: both sides are told `Connection: close`.
fn forward(
    head: &Head,
    path: &str,
    mut reader: BufReader<TcpStream>,
    client: &TcpStream,
    upstream: &TcpStream,
) -> io::Result<()> {
    let mut out = format!("{} {path} HTTP/1.1\r\n", head.method);
    for line in &head.headers {
        let name = line.split(':').next().unwrap_or("").trim();
        let hop_by_hop = ["connection", "proxy-connection", "proxy-authorization"];
        if !hop_by_hop.iter().any(|hop| name.eq_ignore_ascii_case(hop)) {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut writer = upstream;
    writer.write_all(out.as_bytes())?;
    let length: u64 = head
        .header("content-length")
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    io::copy(&mut (&mut reader).take(length), &mut writer)?;

    let mut response = BufReader::new(upstream);
    let mut head_out = Vec::new();
    loop {
        let mut line = String::new();
        if response.read_line(&mut line)? == 0 {
            break;
        }
        if line.trim_end().is_empty() {
            break;
        }
        let name = line.split(':').next().unwrap_or("").trim().to_owned();
        if !name.eq_ignore_ascii_case("connection") {
            head_out.extend_from_slice(line.as_bytes());
        }
    }
    head_out.extend_from_slice(b"Connection: close\r\n\r\n");
    let mut client_writer = client;
    client_writer.write_all(&head_out)?;
    // The upstream closes after its response, which ends its body too.
    io::copy(&mut response, &mut client_writer)?;
    client.shutdown(Shutdown::Both)
}

/// Answers with `status`, no body, `extra` headers, and closes.
fn answer(client: &TcpStream, status: u16, extra: &str) -> io::Result<()> {
    let mut writer = client;
    write!(
        writer,
        "HTTP/1.1 {status} Proxy Says No\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    client.shutdown(Shutdown::Both)
}
