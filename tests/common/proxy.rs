//! A loopback HTTP proxy between aws-init and the emulator, which counts
//! the requests per API action, delays every response, measures how many
//! requests are in flight at once and injects faults on demand.
//!
//! Each connection carries one request: the proxy answers with
//! `Connection: close`, so the SDK never reuses a connection the proxy
//! might be about to drop, and a count is never inflated by a retry of a
//! stale pooled connection.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::mock::AWS_JSON;
use super::{GUARD, emulator};

/// What the proxy does instead of forwarding a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 400 ThrottlingException, as AWS answers beyond a quota.
    Throttle,
    /// HTTP 500 InternalFailure.
    Internal,
    /// HTTP 503 ServiceUnavailable.
    Unavailable,
    /// The connection is reset (RST) once the request is read.
    Reset,
    /// The request is read and never answered; the connection stays open
    /// until the client gives up on it.
    Hang,
    /// HTTP 400 AccessDeniedException, as for an action a policy denies.
    Deny,
    /// HTTP 400 ValidationException, as for a request AWS rejects as
    /// malformed.
    Invalid,
}

/// For how many of an action's requests a fault holds.
#[derive(Clone, Copy, Debug)]
pub enum Times {
    Next(usize),
    Always,
}

#[derive(Default)]
struct State {
    /// Requests received, per `X-Amz-Target`, faulted ones included.
    counts: HashMap<String, usize>,
    faults: HashMap<String, (Fault, Times)>,
    in_flight: usize,
    max_in_flight: usize,
    delay: Duration,
}

impl State {
    /// Counts a request of `action` and takes the fault it gets, if any.
    fn arrive(&mut self, action: &str) -> Option<Fault> {
        *self.counts.entry(action.to_owned()).or_default() += 1;
        self.in_flight += 1;
        self.max_in_flight = self.max_in_flight.max(self.in_flight);
        let (fault, times) = self.faults.get_mut(action)?;
        let fault = *fault;
        match times {
            Times::Always => {}
            Times::Next(left) => {
                *left -= 1;
                if *left == 0 {
                    self.faults.remove(action);
                }
            }
        }
        Some(fault)
    }
}

/// A proxy on 127.0.0.1 in front of the shared emulator, serving each
/// connection on a thread of its own for as long as the test process
/// lives.
pub struct Proxy {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

impl Proxy {
    pub fn new() -> Proxy {
        let upstream = emulator()
            .endpoint
            .strip_prefix("http://")
            .unwrap()
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = Arc::clone(&shared);
                let upstream = upstream.clone();
                std::thread::spawn(move || serve(stream, &upstream, &state));
            }
        });
        Proxy { endpoint, state }
    }

    /// Adds `delay` before every response from now on.
    pub fn delay(&self, delay: Duration) -> &Proxy {
        self.state.lock().unwrap().delay = delay;
        self
    }

    /// Answers `times` of the next requests of `action` (such as
    /// `secretsmanager.GetSecretValue`) with `fault`, replacing any fault
    /// set for it before.
    pub fn inject(&self, action: &str, fault: Fault, times: Times) -> &Proxy {
        if let Times::Next(0) = times {
            panic!("a fault for no request is no fault");
        }
        let mut state = self.state.lock().unwrap();
        state.faults.insert(action.to_owned(), (fault, times));
        self
    }

    /// How many requests of `action` arrived, faulted ones included.
    pub fn count(&self, action: &str) -> usize {
        let state = self.state.lock().unwrap();
        state.counts.get(action).copied().unwrap_or(0)
    }

    /// Every action's count, for a test that checks nothing else was
    /// called.
    pub fn counts(&self) -> HashMap<String, usize> {
        self.state.lock().unwrap().counts.clone()
    }

    /// The most requests that were ever read and not yet answered at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.lock().unwrap().max_in_flight
    }
}

/// One request as read from the client.
struct Request {
    head: Vec<String>,
    body: Vec<u8>,
    action: String,
}

/// Reads one request: the request line, the headers and a body of
/// Content-Length bytes. `None` if the client went away first.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut head = Vec::new();
    let mut length = 0;
    let mut action = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        if line == "\r\n" {
            break;
        }
        let line = line.trim_end().to_owned();
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("x-amz-target") {
                action = value.trim().to_owned();
            }
        }
        head.push(line);
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request { head, body, action })
}

fn serve(stream: TcpStream, upstream: &str, state: &Mutex<State>) {
    // A test that fails midway must not leave a thread blocked for ever.
    stream.set_read_timeout(Some(GUARD)).unwrap();
    let mut reader = BufReader::new(stream);
    let Some(request) = read_request(&mut reader) else {
        return;
    };
    let fault = state.lock().unwrap().arrive(&request.action);
    let mut client = reader.into_inner();

    let response = match fault {
        None => Some(forward(&request, upstream)),
        Some(Fault::Throttle) => Some(aws_error(400, "ThrottlingException", "Rate exceeded")),
        Some(Fault::Internal) => Some(aws_error(500, "InternalFailure", "Internal failure")),
        Some(Fault::Unavailable) => Some(aws_error(503, "ServiceUnavailable", "Unavailable")),
        Some(Fault::Deny) => Some(aws_error(
            400,
            "AccessDeniedException",
            "User is not authorized to perform this action",
        )),
        Some(Fault::Invalid) => Some(aws_error(
            400,
            "ValidationException",
            "1 validation error detected",
        )),
        Some(Fault::Reset) => {
            reset(&client);
            None
        }
        Some(Fault::Hang) => {
            // Until the client closes the connection: a read then returns
            // 0 (or fails after the guard).
            let _ = client.read(&mut [0; 1]);
            None
        }
    };
    let delay = state.lock().unwrap().delay;
    if response.is_some() {
        std::thread::sleep(delay);
    }
    // Out of flight before the response is written, so that the client
    // cannot send its next request while this one still counts.
    state.lock().unwrap().in_flight -= 1;
    if let Some(response) = response {
        let _ = client.write_all(&response);
    }
}

/// Sends `request` to the emulator on a connection of its own and returns
/// the response, rewritten to close the client's connection.
fn forward(request: &Request, upstream: &str) -> Vec<u8> {
    let mut connection = TcpStream::connect(upstream).unwrap();
    connection.set_read_timeout(Some(GUARD)).unwrap();
    let mut out = Vec::new();
    for line in &request.head {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(&request.body);
    connection.write_all(&out).unwrap();

    let mut reader = BufReader::new(connection);
    let mut head = Vec::new();
    let mut length = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        let line = line.trim_end().to_owned();
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("connection") {
                continue;
            }
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.trim().parse::<usize>().unwrap());
            }
        }
        head.push(line);
    }
    let mut body = Vec::new();
    match length {
        Some(length) => {
            body.resize(length, 0);
            reader.read_exact(&mut body).unwrap();
        }
        None => {
            reader.read_to_end(&mut body).unwrap();
            head.push(format!("Content-Length: {}", body.len()));
        }
    }
    let mut response = head.join("\r\n").into_bytes();
    response.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    response.extend_from_slice(&body);
    response
}

/// An AWS JSON 1.1 error response with `status`, `code` and `message`.
fn aws_error(status: u16, code: &str, message: &str) -> Vec<u8> {
    let body = format!(r#"{{"__type":"{code}","message":"{message}"}}"#);
    format!(
        "HTTP/1.1 {status} Fault\r\n\
         Content-Type: {AWS_JSON}\r\n\
         x-amzn-ErrorType: {code}\r\n\
         Content-Length: {}\r\n\
         Connection: close\r\n\
         \r\n\
         {body}",
        body.len()
    )
    .into_bytes()
}

/// Closes `stream` with a reset rather than an orderly FIN: a zero linger
/// time makes close(2) send RST (socket(7), SO_LINGER).
fn reset(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a linger struct of the size given.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt(SO_LINGER)");
}
