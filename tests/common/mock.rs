//! A loopback HTTP server that gives every request the same answer, for
//! responses the emulator never sends: malformed bodies and bare errors.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

/// The content type of the AWS JSON 1.1 protocol, which Secrets Manager
/// and Parameter Store both speak.
pub const AWS_JSON: &str = "application/x-amz-json-1.1";

/// A server on 127.0.0.1 that answers each request with one fixed response
/// on a thread of its own, for as long as the test process lives.
pub struct Mock {
    pub endpoint: String,
}

impl Mock {
    /// Answers with `status` and `body`, with a Content-Length that fits.
    pub fn new(status: u16, body: &str) -> Mock {
        Mock::declaring(status, body, body.len())
    }

    /// Answers with `status` and `body`, but a Content-Length of `length`:
    /// when that is longer than the body, the connection closes early.
    pub fn declaring(status: u16, body: &str, length: usize) -> Mock {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let response = format!(
            "HTTP/1.1 {status} Mock\r\n\
             Content-Type: {AWS_JSON}\r\n\
             Content-Length: {length}\r\n\
             Connection: close\r\n\
             \r\n\
             {body}"
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                answer(stream, response.as_bytes());
            }
        });
        Mock { endpoint }
    }
}

/// Reads one request, headers and body, then writes `response` and closes
/// the connection. A client that goes away early is no concern here.
fn answer(stream: TcpStream, response: &[u8]) {
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let _ = reader.get_mut().write_all(response);
}
