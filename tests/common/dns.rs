//! A DNS server for the tests, on port 53 of a loopback address of its own,
//! that answers for one name with 127.0.0.1: so a root with nothing but an
//! /etc/resolv.conf can look an endpoint up the way a container does,
//! without any query leaving the machine.
//!
//! It speaks just enough of RFC 1035 over UDP for a stub resolver: an A
//! query for its name gets 127.0.0.1, an AAAA query for it an empty answer,
//! and any other name NXDOMAIN.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

const TYPE_A: u16 = 1;
const CLASS_IN: u16 = 1;

/// The running server. It stops when dropped.
pub struct Dns {
    /// The address it listens on, port 53, for /etc/resolv.conf.
    pub address: Ipv4Addr,
    /// The one name it knows, lower case, without the final dot.
    pub name: String,
    queries: Arc<Mutex<Vec<(String, u16)>>>,
    stop: Arc<AtomicBool>,
    worker: Option<thread::JoinHandle<()>>,
}

impl Dns {
    /// Starts a server that answers for `name`. Its address is a loopback
    /// address no other test process uses, since port 53 is fixed.
    pub fn start(name: &str) -> Dns {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        let pid = std::process::id();
        let serial = NEXT.fetch_add(1, Ordering::Relaxed);
        let address = Ipv4Addr::new(127, 53, (pid % 250) as u8 + 1, serial as u8);
        let socket = UdpSocket::bind(SocketAddr::from((address, 53))).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();

        let queries = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let worker = {
            let (name, queries, stop) = (name.to_lowercase(), queries.clone(), stop.clone());
            thread::spawn(move || serve(&socket, &name, &queries, &stop))
        };
        Dns {
            address,
            name: name.to_lowercase(),
            queries,
            stop,
            worker: Some(worker),
        }
    }

    /// The line /etc/resolv.conf needs to ask this server.
    pub fn resolv_conf(&self) -> String {
        format!("nameserver {}\n", self.address)
    }

    /// Every query so far, as (name, type), in arrival order.
    pub fn queries(&self) -> Vec<(String, u16)> {
        self.queries.lock().unwrap().clone()
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

fn serve(socket: &UdpSocket, name: &str, queries: &Mutex<Vec<(String, u16)>>, stop: &AtomicBool) {
    let mut buffer = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        let Ok((length, peer)) = socket.recv_from(&mut buffer) else {
            continue;
        };
        let Some((asked, kind, question_end)) = question(&buffer[..length]) else {
            continue;
        };
        queries.lock().unwrap().push((asked.clone(), kind));
        let answer = answer(&buffer[..question_end], asked == name, kind);
        let _ = socket.send_to(&answer, peer);
    }
}

/// Reads the one question of a query: its name, lower case and without
/// the final dot, its type, and where the question section ends.
fn question(query: &[u8]) -> Option<(String, u16, usize)> {
    if query.len() < 12 || u16::from_be_bytes([query[4], query[5]]) != 1 {
        return None;
    }
    let mut labels = Vec::new();
    let mut at = 12;
    loop {
        let length = usize::from(*query.get(at)?);
        at += 1;
        if length == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + length)?).to_lowercase());
        at += length;
    }
    let kind = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    Some((labels.join("."), kind, at + 4))
}

/// Builds the response to `query` (header and question): 127.0.0.1 for
/// an A query for the known name, no answer for another type of it, and
/// NXDOMAIN for any other name.
fn answer(query: &[u8], known: bool, kind: u16) -> Vec<u8> {
    let mut response = query.to_vec();
    // QR and RD kept, RA set; RCODE 3 (NXDOMAIN) for an unknown name.
    response[2] = 0x80 | (query[2] & 0x01);
    response[3] = if known { 0x80 } else { 0x83 };
    let answers: u16 = if known && kind == TYPE_A { 1 } else { 0 };
    response[6..8].copy_from_slice(&answers.to_be_bytes());
    response[8..12].fill(0);
    if answers == 1 {
        // The name by a pointer to the question's (offset 12), then type,
        // class, a TTL of 0 so nothing caches it, and the address.
        response.extend_from_slice(&[0xc0, 12]);
        response.extend_from_slice(&TYPE_A.to_be_bytes());
        response.extend_from_slice(&CLASS_IN.to_be_bytes());
        response.extend_from_slice(&0u32.to_be_bytes());
        response.extend_from_slice(&4u16.to_be_bytes());
        response.extend_from_slice(&Ipv4Addr::LOCALHOST.octets());
    }
    response
}
