//! The accept loop over real sockets on port 0: per-IP cap and stop.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::super::config::Mode;
use super::super::listener::serve;
use super::super::testing::{MemoryBackend, test_config};

async fn first_line(stream: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_line(&mut line)).await;
    read.expect("in time").expect("read");
    line
}

#[tokio::test]
async fn per_ip_cap_and_stop() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let config = Arc::new(test_config(Mode::Mx));
    let backend = Arc::new(MemoryBackend::default());
    let server = tokio::spawn(serve(listener, config, backend, 1, stop_rx));

    let mut first = BufReader::new(TcpStream::connect(addr).await.expect("connect"));
    assert!(first_line(&mut first).await.starts_with("220 mx.test"));
    let mut second = BufReader::new(TcpStream::connect(addr).await.expect("connect"));
    assert_eq!(
        first_line(&mut second).await,
        "421 4.7.0 Too many connections from your address\r\n"
    );

    stop_tx.send(true).expect("send stop");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve stops")
        .expect("join");
    // The session already running is not cut by the stop.
    first.get_mut().write_all(b"NOOP\r\n").await.expect("write");
    assert!(first_line(&mut first).await.starts_with("250 2.0.0"));
}
