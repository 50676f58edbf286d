//! Async retries with backoff against a flaky HTTP endpoint.
//!
//! ```sh
//! cargo run --release -p kairos-rt --example retry_http
//! ```
//!
//! A tiny payment service (a `std::net` server on loopback, inside this program) answers
//! `503 Service Unavailable` to the first two requests of each payment, and `402 Payment
//! Required` to a card that is always declined. Each payment is one kairos task built from
//! a function that makes the HTTP call's future ([`Task::from_async`]), so every attempt
//! is a fresh request; the [`RetryPolicy`] waits 5, 10, 20 ms (jittered) between attempts
//! on kairos timers, holding no thread.
//!
//! What to copy: only *transient* failures are `Err` (a 503, a refused or reset
//! connection, an attempt past its own timeout) and are retried; a definite answer (paid,
//! or declined) is `Ok`, so a declined card is not retried. The HTTP client is
//! `async-net` (smol's sockets, which need no setup on kairos); any async client works the
//! same way (with the `tokio` feature, tokio-based clients too).

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use kairos_rt::{Jitter, Priority, RetryPolicy, Runtime, Task};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

/// The answer of the payment service.
#[derive(Debug, PartialEq)]
enum Payment {
    Paid(String),
    Declined,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = start_flaky_payment_service()?;
    println!("payment service on http://{addr}");

    let rt = Runtime::builder().workers(2).build()?;
    let policy = RetryPolicy::exponential(Duration::from_millis(5), Duration::from_millis(40))
        .max_attempts(4)
        .jitter(Jitter::Equal);

    // Payments 1..=8 succeed on their third attempt; payment 13 is always declined.
    let started = Instant::now();
    let payments: Vec<_> = (1..=8)
        .chain([13])
        .map(|id| {
            let task = Task::from_async(move || pay(addr, id))
                .priority(Priority::HIGH)
                // Worthless if not started within 2 s; the whole sequence ends within 5 s.
                .deadline(Instant::now() + Duration::from_secs(2))
                .timeout(Duration::from_secs(5))
                .retry(policy.clone());
            (id, rt.spawn_with(task).expect("a valid policy on a running runtime"))
        })
        .collect();

    for (id, handle) in payments {
        let outcome = handle.join()?;
        match outcome.result {
            Ok(Payment::Paid(receipt)) => {
                println!("payment {id:2}: {receipt} after {} attempts", outcome.attempts)
            }
            Ok(Payment::Declined) => println!("payment {id:2}: declined (not retried)"),
            Err(e) => println!("payment {id:2}: gave up after {} attempts: {e}", outcome.attempts),
        }
    }
    println!("all payments settled in {:.1?}", started.elapsed());
    let m = rt.metrics();
    println!("retries: {}, retries still waiting: {}", m.retried, m.retry_waiting);

    // The backoffs, the attempts' 500 ms limits and the run timeouts are the runtime's own
    // timers, counted apart from the tasks ("runtime timers" in the report).
    let report = rt.shutdown();
    println!("shutdown: {report}");
    assert!(report.is_balanced());
    Ok(())
}

/// One attempt: `POST /pay/<id>`, with its own 500 ms limit. `Err` means "try again".
async fn pay(addr: SocketAddr, id: u32) -> Result<Payment, String> {
    let call = async {
        let mut conn = async_net::TcpStream::connect(addr).await?;
        let request = format!(
            "POST /pay/{id} HTTP/1.1\r\nhost: localhost\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        conn.write_all(request.as_bytes()).await?;
        let mut response = String::new();
        conn.read_to_string(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    let response = match kairos_rt::timeout(Duration::from_millis(500), call).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => return Err(format!("connection failed: {e}")),
        Err(_) => return Err("no answer within 500 ms".to_string()),
    };
    let status = response.split(' ').nth(1).unwrap_or("");
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    match status {
        "200" => Ok(Payment::Paid(body)),
        "402" => Ok(Payment::Declined),
        other => Err(format!("HTTP {other}")),
    }
}

/// Starts the flaky service on a thread of its own; it serves until the program exits.
fn start_flaky_payment_service() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        let mut calls: HashMap<String, u32> = HashMap::new();
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut request_line = String::new();
            let mut reader = BufReader::new(&conn);
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            // Skip the headers, up to the empty line.
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                line.clear();
            }
            let path = request_line.split(' ').nth(1).unwrap_or("/").to_string();
            let n = calls.entry(path.clone()).or_insert(0);
            *n += 1;
            let (status, body) = match (path.as_str(), *n) {
                ("/pay/13", _) => ("402 Payment Required", "card declined".to_string()),
                (_, 1 | 2) => ("503 Service Unavailable", "try again later".to_string()),
                (p, _) => ("200 OK", format!("receipt for {}", p.trim_start_matches("/pay/"))),
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Ok(addr)
}
