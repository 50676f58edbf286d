//! Metrics in Prometheus format over a tiny HTTP endpoint.
//!
//! ```sh
//! cargo run --release -p kairos-rt --example prometheus_metrics            # scrape once, exit
//! cargo run --release -p kairos-rt --example prometheus_metrics -- 60      # serve for 60 s
//! curl http://127.0.0.1:9898/metrics                                       # meanwhile
//! ```
//!
//! [`Handle::metrics`](kairos_rt::Handle::metrics) takes a snapshot without stopping the
//! workers, and [`MetricsSnapshot::to_prometheus`](kairos_rt::MetricsSnapshot::to_prometheus)
//! writes it in the Prometheus text format (counters `kairos_tasks_*_total`, gauges such
//! as `kairos_queue_depth{priority="N"}`, the submit-to-start latency summary). The
//! endpoint is a `std::net` server on a thread of its own: no web framework needed.
//! With the `metrics` feature the same snapshot can feed the `metrics` crate instead.

use kairos_rt::{Handle, Priority, Runtime, Schedule, Task};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let serve_for = std::env::args().nth(1).map(|s| s.parse::<u64>()).transpose()?.map(Duration::from_secs);
    let rt = Runtime::builder().workers(2).build()?;

    // Some work to measure: a recurring poll, bulk jobs, a few jobs that missed their
    // deadline (expired, never run).
    let poll = rt.spawn_recurring(Schedule::every(Duration::from_millis(10))?, Priority::HIGH, || ())?;
    for i in 0..2_000u32 {
        let priority = if i % 10 == 0 { Priority::HIGH } else { Priority::LOW };
        drop(rt.spawn(priority, move || std::hint::black_box(i.wrapping_mul(31))));
    }
    for _ in 0..3 {
        let missed = Task::new(|| ()).deadline(Instant::now() - Duration::from_secs(1));
        drop(rt.spawn_with(missed)?);
    }
    let parked = rt.spawn_after(Duration::from_secs(3600), Priority::LOW, || ());

    // Serve on :9898 if it is free (so the curl line above works), else on any port.
    let listener = TcpListener::bind("127.0.0.1:9898").or_else(|_| TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let handle = rt.handle();
    std::thread::spawn(move || serve(listener, handle));
    println!("metrics on http://{addr}/metrics");

    std::thread::sleep(Duration::from_millis(50));
    let body = scrape(addr, "/metrics")?;
    println!("a few of the {} lines it serves:", body.lines().count());
    let wanted = [
        "kairos_tasks_completed_total ",
        "kairos_tasks_expired_total ",
        "kairos_timers_pending ",
        "kairos_workers ",
    ];
    for line in body.lines().filter(|l| {
        wanted.iter().any(|w| l.starts_with(w))
            || (l.starts_with("kairos_queue_depth{") && !l.ends_with(" 0"))
    }) {
        println!("  {line}");
    }
    assert!(scrape(addr, "/nothing-here")?.is_empty(), "other paths are a 404");

    if let Some(d) = serve_for {
        println!("serving for {d:?}; try: curl http://{addr}/metrics");
        std::thread::sleep(d);
    }

    poll.cancel();
    parked.cancel();
    let report = rt.shutdown();
    println!("shutdown: {report}");
    assert!(report.is_balanced());
    Ok(())
}

/// Answers `GET /metrics` with the runtime's metrics, anything else with a 404. Runs
/// until the program exits.
fn serve(listener: TcpListener, handle: Handle) {
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        let mut request_line = String::new();
        if BufReader::new(&conn).read_line(&mut request_line).is_err() {
            continue;
        }
        let response = if request_line.starts_with("GET /metrics ") {
            let body = handle.metrics().to_prometheus();
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
        } else {
            "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_string()
        };
        let _ = conn.write_all(response.as_bytes());
    }
}

/// A minimal HTTP GET: the body of a 200 answer, or an empty string.
fn scrape(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut conn = TcpStream::connect(addr)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(conn, "GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")?;
    let mut response = String::new();
    conn.read_to_string(&mut response)?;
    let ok = response.starts_with("HTTP/1.1 200");
    Ok(if ok { response.split("\r\n\r\n").nth(1).unwrap_or("").to_string() } else { String::new() })
}
