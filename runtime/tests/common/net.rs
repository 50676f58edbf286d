//! Loopback servers on plain `std` sockets for the I/O tests: a TCP echo server and a
//! tiny HTTP/1.1 server (raw text, no framework), each on its own thread.
#![allow(dead_code)] // Each I/O test file uses some of these.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;

/// Echoes everything each of `connections` clients sends, until it closes.
pub fn echo_server(connections: usize) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind echo server");
    let addr = listener.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        for _ in 0..connections {
            let (mut conn, _) = listener.accept().expect("accept");
            let mut buf = [0u8; 1024];
            loop {
                let n = conn.read(&mut buf).expect("read");
                if n == 0 {
                    break;
                }
                conn.write_all(&buf[..n]).expect("write");
            }
        }
    });
    (addr, t)
}

/// Answers `requests` HTTP/1.1 requests, one per connection, with `200 OK` and the body
/// `hello from <path>`, then closes each connection.
pub fn http_server(requests: usize) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind HTTP server");
    let addr = listener.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        for _ in 0..requests {
            let (conn, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(conn);
            let mut request_line = String::new();
            reader.read_line(&mut request_line).expect("request line");
            let path = request_line.split_whitespace().nth(1).unwrap_or("?").to_owned();
            // Skip the headers, up to the blank line.
            let mut line = String::new();
            while reader.read_line(&mut line).expect("header") > 2 {
                line.clear();
            }
            let body = format!("hello from {path}");
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            reader.get_mut().write_all(response.as_bytes()).expect("write response");
        }
    });
    (addr, t)
}

/// The request a client sends to [`http_server`].
pub fn http_get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
}

/// The status line and body of a whole HTTP/1.1 response.
pub fn status_and_body(response: &str) -> (&str, &str) {
    let status = response.lines().next().unwrap_or("");
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body)
}
