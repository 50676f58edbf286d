//! smol's I/O inside kairos tasks: `async-net` (over `async-io`) brings its own reactor
//! thread, so its sockets work on kairos with no feature and no setup.
//!
//! ```text
//! cargo run -p kairos-rt --example smol_io
//! ```
//!
//! A TCP echo server and clients at kairos priorities, and an HTTP/1.1 request to a tiny
//! server, all with `async-net` and `futures-lite`.

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use kairos_rt::{Priority, Runtime};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::builder().workers(2).build()?;

    let listener = rt.block_on(async_net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    println!("echo server on {addr}");

    let server = rt.spawn_future(Priority::LOW, async move {
        let mut echoes = Vec::new();
        for _ in 0..2 {
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

    for priority in [Priority::HIGH, Priority::NORMAL] {
        let echoed = rt.spawn_future(priority, async move {
            let mut conn = async_net::TcpStream::connect(addr).await?;
            conn.write_all(b"ping").await?;
            let mut back = [0u8; 4];
            conn.read_exact(&mut back).await?;
            Ok::<_, std::io::Error>(back)
        });
        println!("echoed at priority {}: {:?}", priority.level(), std::str::from_utf8(&echoed.join()??)?);
    }
    server.join()??;

    // A minimal HTTP/1.1 exchange (a real client crate over async-io works the same way).
    let http = std::net::TcpListener::bind("127.0.0.1:0")?;
    let http_addr = http.local_addr()?;
    let http_server = std::thread::spawn(move || -> std::io::Result<()> {
        use std::io::{Read, Write};
        let (mut conn, _) = http.accept()?;
        let mut request = [0u8; 1024];
        let _ = conn.read(&mut request)?;
        conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello")
    });
    let response = rt.block_on(async move {
        let mut conn = async_net::TcpStream::connect(http_addr).await?;
        conn.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").await?;
        let mut response = String::new();
        conn.read_to_string(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    })?;
    http_server.join().expect("the HTTP server thread panicked")?;
    println!("HTTP response: {:?}", response.lines().next());

    let report = rt.shutdown();
    println!("shutdown: {report:?}");
    assert!(report.is_balanced());
    Ok(())
}
