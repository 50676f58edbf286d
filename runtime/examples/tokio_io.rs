//! tokio I/O inside kairos tasks: a TCP echo server and its clients, all kairos futures
//! at kairos priorities, on tokio's reactor (feature `tokio`).
//!
//! ```text
//! cargo run -p kairos-rt --features tokio --example tokio_io
//! ```
//!
//! `Builder::enable_tokio()` gives the runtime a small tokio runtime of its own (one
//! thread that drives the reactor and timers); `Builder::tokio_handle(h)` uses one the
//! program already has instead. Either way, `tokio::net`, `tokio::time` and the crates
//! built on them (reqwest, tonic, sqlx, redis's async API) work in every kairos future,
//! in `block_on` and in `spawn_blocking` closures (`Handle::current()`).

use kairos_rt::{Priority, Runtime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::builder().workers(2).enable_tokio().build()?;

    // `block_on` on the main thread has the reactor too.
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    println!("echo server on {addr}");

    // The server: a LOW-priority future accepting connections, one echo task each.
    let server = rt.spawn_future(Priority::LOW, async move {
        let mut echoes = Vec::new();
        for _ in 0..3 {
            let (mut conn, _) = listener.accept().await?;
            echoes.push(kairos_rt::spawn_future(Priority::NORMAL, async move {
                let mut buf = [0u8; 1024];
                loop {
                    let n = conn.read(&mut buf).await?;
                    if n == 0 {
                        return Ok::<_, std::io::Error>(());
                    }
                    conn.write_all(&buf[..n]).await?;
                }
            }));
        }
        // Each echo task ends when its client closes the connection.
        for echo in echoes {
            echo.await.expect("echo task")?;
        }
        Ok::<_, std::io::Error>(())
    });

    // Clients at three priorities.
    let clients: Vec<_> = [Priority::HIGHEST, Priority::HIGH, Priority::NORMAL]
        .into_iter()
        .map(|priority| {
            rt.spawn_future(priority, async move {
                let mut conn = TcpStream::connect(addr).await?;
                let msg = format!("hello at priority {}", priority.level());
                conn.write_all(msg.as_bytes()).await?;
                let mut back = vec![0u8; msg.len()];
                conn.read_exact(&mut back).await?;
                // tokio's timers work as well.
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                Ok::<_, std::io::Error>(String::from_utf8_lossy(&back).into_owned())
            })
        })
        .collect();
    for client in clients {
        println!("echoed: {}", client.join()??);
    }
    server.join()??;

    let report = rt.shutdown();
    println!("shutdown: {report:?}");
    assert!(report.is_balanced());
    Ok(())
}
