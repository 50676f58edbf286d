//! tokio I/O inside kairos (feature `tokio`): real TCP and HTTP on loopback with
//! `tokio::net`, polled by kairos workers and by `block_on` on the test's own thread,
//! with a tokio runtime the kairos runtime owns (`enable_tokio`) or one it is given
//! (`tokio_handle`).

mod common;
#[path = "common/net.rs"]
mod net;

use common::*;
use kairos_rt::{Priority, Runtime};
use net::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn with_tokio(workers: usize) -> Runtime {
    Runtime::builder().workers(workers).enable_tokio().build().expect("build runtime with tokio")
}

async fn echo_once(addr: std::net::SocketAddr, msg: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut conn = TcpStream::connect(addr).await?;
    conn.write_all(msg).await?;
    let mut back = vec![0u8; msg.len()];
    conn.read_exact(&mut back).await?;
    Ok(back)
}

#[test]
fn tcp_echo_between_kairos_tasks_on_tokio_sockets() {
    let rt = with_tokio(2);
    // `block_on` on this (non-worker) thread: the "still panics" case.
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = rt.spawn_future(Priority::LOW, async move {
        for _ in 0..3 {
            let (mut conn, _) = listener.accept().await?;
            kairos_rt::spawn_future(Priority::NORMAL, async move {
                let mut buf = [0u8; 256];
                loop {
                    let n = conn.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    conn.write_all(&buf[..n]).await.unwrap();
                }
            });
        }
        Ok::<_, std::io::Error>(())
    });
    let clients: Vec<_> = [Priority::HIGHEST, Priority::HIGH, Priority::LOW]
        .into_iter()
        .map(|p| {
            rt.spawn_future(p, async move { echo_once(addr, format!("ping {}", p.level()).as_bytes()).await })
        })
        .collect();
    for (client, level) in clients.into_iter().zip([63, 48, 16]) {
        assert_eq!(join(client).unwrap().unwrap(), format!("ping {level}").into_bytes());
    }
    join(server).unwrap().unwrap();
    let report = rt.shutdown();
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn block_on_on_the_main_thread_does_tokio_io() {
    let rt = with_tokio(1);
    let (addr, server) = echo_server(1);
    let back = rt.block_on(echo_once(addr, b"from block_on")).unwrap();
    assert_eq!(back, b"from block_on");
    server.join().unwrap();
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn http_request_from_a_kairos_task_to_a_local_server() {
    let rt = with_tokio(2);
    let (addr, server) = http_server(1);
    let response = rt.spawn_future(Priority::HIGH, async move {
        let mut conn = TcpStream::connect(addr).await?;
        conn.write_all(http_get("/payments/42").as_bytes()).await?;
        let mut response = String::new();
        conn.read_to_string(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    });
    let response = join(response).unwrap().unwrap();
    assert_eq!(status_and_body(&response), ("HTTP/1.1 200 OK", "hello from /payments/42"));
    server.join().unwrap();
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn tokio_timers_and_tokio_spawn_work_inside_kairos_tasks() {
    let rt = with_tokio(1);
    let h = rt.spawn_future(Priority::NORMAL, async {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        // `tokio::spawn` reaches the tokio runtime that kairos owns.
        tokio::spawn(async { 40 }).await.unwrap() + 2
    });
    assert_eq!(join(h).unwrap(), 42);
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn blocking_jobs_run_inside_the_tokio_context() {
    let rt = with_tokio(1);
    let (addr, server) = echo_server(1);
    // A blocking job can drive async tokio code through `Handle::current()`.
    let h = rt.spawn_blocking(Priority::NORMAL, move || {
        tokio::runtime::Handle::current().block_on(echo_once(addr, b"blocking"))
    });
    assert_eq!(join(h).unwrap().unwrap(), b"blocking");
    server.join().unwrap();
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn a_given_multi_thread_handle_drives_kairos_io() {
    let tokio_rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let rt = Runtime::builder().workers(2).tokio_handle(tokio_rt.handle().clone()).build().unwrap();
    let (addr, server) = echo_server(1);
    let h = rt.spawn_future(Priority::HIGH, echo_once(addr, b"given handle"));
    assert_eq!(join(h).unwrap().unwrap(), b"given handle");
    server.join().unwrap();
    assert!(rt.shutdown().is_balanced());
    // The given runtime is the caller's: kairos's shutdown left it running.
    assert_eq!(tokio_rt.block_on(async { tokio::spawn(async { 7 }).await.unwrap() }), 7);
}

#[test]
fn a_current_thread_handle_is_refused_with_a_reason() {
    let tokio_rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let err = Runtime::builder().tokio_handle(tokio_rt.handle().clone()).build().unwrap_err();
    assert!(err.is_tokio(), "{err}");
    assert!(err.to_string().contains("current-thread tokio runtime"), "{err}");
}

#[test]
#[should_panic(expected = "no reactor running")]
fn without_a_tokio_runtime_tokio_io_panics_as_tokio_says() {
    // What the docs warn about: without `enable_tokio` or `tokio_handle`, kairos lends no
    // reactor, and tokio's own message says so.
    let rt = Runtime::builder().workers(1).build().unwrap();
    let _ = rt.block_on(TcpListener::bind("127.0.0.1:0"));
}
