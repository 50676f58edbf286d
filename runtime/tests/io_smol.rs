//! smol's I/O inside kairos, with no feature: `async-net` sockets (over `async-io`,
//! which runs its own reactor thread) on loopback, polled by kairos workers and by
//! `block_on`: a TCP echo between kairos tasks, and an HTTP request to a local server.

mod common;
#[path = "common/net.rs"]
mod net;

use async_net::{TcpListener, TcpStream};
use common::*;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use kairos_rt::Priority;
use net::*;

#[test]
fn tcp_echo_between_kairos_tasks_on_smol_sockets() {
    let rt = runtime(2);
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = rt.spawn_future(Priority::LOW, async move {
        let (mut conn, _) = listener.accept().await?;
        let mut buf = [0u8; 256];
        loop {
            let n = conn.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(());
            }
            conn.write_all(&buf[..n]).await?;
        }
    });
    let client = rt.spawn_future(Priority::HIGH, async move {
        let mut conn = TcpStream::connect(addr).await?;
        conn.write_all(b"ping over async-net").await?;
        let mut back = [0u8; 19];
        conn.read_exact(&mut back).await?;
        Ok::<_, std::io::Error>(back)
    });
    assert_eq!(&join(client).unwrap().unwrap(), b"ping over async-net");
    join(server).unwrap().unwrap();
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn http_request_from_a_kairos_task_and_from_block_on() {
    let rt = runtime(2);
    let (addr, server) = http_server(2);
    let get = |path: &'static str| async move {
        let mut conn = TcpStream::connect(addr).await?;
        conn.write_all(http_get(path).as_bytes()).await?;
        let mut response = String::new();
        conn.read_to_string(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    let from_task = join(rt.spawn_future(Priority::HIGH, get("/task"))).unwrap().unwrap();
    assert_eq!(status_and_body(&from_task), ("HTTP/1.1 200 OK", "hello from /task"));
    let from_block_on = rt.block_on(get("/block_on")).unwrap();
    assert_eq!(status_and_body(&from_block_on), ("HTTP/1.1 200 OK", "hello from /block_on"));
    server.join().unwrap();
    assert!(rt.shutdown().is_balanced());
}
