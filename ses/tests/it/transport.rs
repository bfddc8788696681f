//! Network failures before and after the request was written, against
//! sockets the tests control.

use std::time::Duration;

use ses::{SendOutcome, SesSettings};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use crate::support::{client_with, email, settings};

fn short_timeouts(endpoint: &str) -> SesSettings {
    SesSettings {
        connect_timeout: Duration::from_millis(200),
        call_timeout: Duration::from_millis(800),
        ..settings(endpoint)
    }
}

/// Reads one request head and body from `listener` and returns the socket,
/// so the caller decides how the exchange ends.
async fn accept_request(listener: &TcpListener) -> tokio::net::TcpStream {
    let (mut socket, _) = listener.accept().await.unwrap();
    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    // The SDK sends the whole JSON body with a Content-Length; reading until
    // the body has arrived is enough here.
    loop {
        let read = socket.read(&mut buffer).await.unwrap();
        received.extend_from_slice(&buffer[..read]);
        if read == 0 || request_complete(&received) {
            return socket;
        }
    }
}

fn request_complete(received: &[u8]) -> bool {
    let text = String::from_utf8_lossy(received);
    let Some(head_end) = text.find("\r\n\r\n") else {
        return false;
    };
    let length = text[..head_end]
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    received.len() >= head_end + 4 + length
}

#[tokio::test]
async fn refused_connection_retries_later() {
    // Bind and drop a listener to get a loopback port that refuses.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let ses = client_with(short_timeouts(&endpoint)).await;

    let outcome = ses.send_email(&email("ada@example.com", "batch-r")).await;

    assert!(
        matches!(outcome, SendOutcome::RetryLater { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn connect_timeout_retries_later() {
    // A listener that never accepts, with its accept queue filled by other
    // connections: Linux then drops new SYNs, so connecting times out.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let attempt = tokio::net::TcpStream::connect(addr);
        if let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_millis(100), attempt).await {
            fillers.push(stream);
        }
    }
    let ses = client_with(short_timeouts(&format!("http://{addr}"))).await;

    let outcome = ses.send_email(&email("ada@example.com", "batch-ct")).await;

    let SendOutcome::RetryLater { reason, .. } = &outcome else {
        panic!("expected RetryLater, got {outcome:?}");
    };
    assert!(reason.contains("connect timeout"), "{reason}");
    drop(listener);
}

#[tokio::test]
async fn silent_server_is_unknown() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let socket = accept_request(&listener).await;
        // Hold the connection open without a response.
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(socket);
    });
    let ses = client_with(short_timeouts(&endpoint)).await;

    let outcome = ses.send_email(&email("ada@example.com", "batch-s")).await;

    assert!(
        matches!(outcome, SendOutcome::Unknown { .. }),
        "{outcome:?}"
    );
    server.abort();
}

#[tokio::test]
async fn connection_closed_after_request_is_unknown() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let socket = accept_request(&listener).await;
        drop(socket);
    });
    let ses = client_with(short_timeouts(&endpoint)).await;

    let outcome = ses.send_email(&email("ada@example.com", "batch-c")).await;

    assert!(
        matches!(outcome, SendOutcome::Unknown { .. }),
        "{outcome:?}"
    );
    server.await.unwrap();
}

#[tokio::test]
async fn garbled_success_response_is_unknown() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let mut socket = accept_request(&listener).await;
        let body = "not json";
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(response.as_bytes()).await.unwrap();
        socket.shutdown().await.unwrap();
    });
    let ses = client_with(short_timeouts(&endpoint)).await;

    let outcome = ses.send_email(&email("ada@example.com", "batch-g")).await;

    assert!(
        matches!(outcome, SendOutcome::Unknown { .. }),
        "{outcome:?}"
    );
    server.await.unwrap();
}
