//! Serving on a TCP listener: the accept loop, with the bounds a server facing untrusted
//! clients needs, and graceful shutdown.
//!
//! - **Connection cap.** At most `max_connections` connections are open at once (HTTP,
//!   long-polling and WebSocket alike: the cap's permit travels with the socket, through a
//!   WebSocket upgrade, until it closes). A connection past the cap is answered
//!   `503 Service Unavailable` and closed; the refusals of a burst are logged once, with a
//!   count.
//! - **Slow or silent clients.** A connection must send a complete request head within
//!   `header_read_timeout` of connecting, and of its previous response on a keep-alive
//!   connection; otherwise it is closed. A silent TCP connection cannot hold a descriptor
//!   for ever.
//! - **Out of descriptors.** When `accept` fails for lack of file descriptors (EMFILE,
//!   ENFILE) or memory, the loop waits for a connection to close (at most 100 ms) instead of
//!   spinning, and logs once per burst.
//! - **Bounded buffers.** Each HTTP connection's read buffer is capped at 16 KiB (hyper's
//!   default grows to ~400 KiB on a large body and stays there for the connection's life).
//! - **Graceful shutdown.** Stop accepting; let running handlers finish; close every
//!   realtime connection (each sends what was queued for it, then a close); wait until
//!   every connection has closed. All within `shutdown_timeout`.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{extract::ConnectInfo, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// hyper's read buffer limit per HTTP connection: large bodies stream through it.
const HTTP_READ_BUFFER: usize = 16 * 1024;

/// How often a burst of refusals (connection cap, accept errors) is summed up in the log.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// How long a refused connection gets to read its 503 before it is closed.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// Refused connections being answered at once; past that they are closed unanswered.
const MAX_LINGERING_REFUSALS: usize = 64;

/// What the accept loop needs from the server.
pub(crate) struct ServeOptions {
    pub(crate) max_connections: usize,
    pub(crate) header_read_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
}

/// The hooks of a graceful shutdown, in order.
pub(crate) trait Drain: Send + Sync + 'static {
    /// Resolves once no handler is running.
    fn handlers_finished(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
    /// Closes every realtime connection (each sends what was queued, then a close).
    fn close_connections(&self);
}

/// Serves `app` on `listener` until `shutdown` resolves, then shuts down gracefully.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    drain: Arc<dyn Drain>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let cap = options.max_connections;
    let permits = Arc::new(Semaphore::new(cap));
    // Woken whenever a connection closes: what an accept loop out of descriptors waits for.
    let closed = Arc::new(tokio::sync::Notify::new());
    let lingering = Arc::new(Semaphore::new(MAX_LINGERING_REFUSALS));
    let stopping = CancellationToken::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_buf_size(HTTP_READ_BUFFER);
    let http = Arc::new(http);
    let mut refusals = BurstLog::default();
    let mut accept_errors = BurstLog::default();
    tokio::pin!(shutdown);

    tracing::info!(
        addr = ?listener.local_addr().ok(),
        max_connections = cap,
        "realtime server listening"
    );
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, addr) = match accepted {
            Ok(accepted) => accepted,
            Err(err) if is_resource_exhaustion(&err) => {
                if let Some(suppressed) = accept_errors.hit() {
                    tracing::warn!(%err, suppressed, "cannot accept connections (out of file descriptors or memory): waiting for connections to close");
                }
                // Wait for a connection to close rather than spin on a full backlog.
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = closed.notified() => {}
                    _ = &mut shutdown => break,
                }
                continue;
            }
            // The peer gave up before we accepted (ECONNABORTED ...): nothing to do.
            Err(err) => {
                tracing::debug!(%err, "accept failed");
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            if let Some(suppressed) = refusals.hit() {
                tracing::warn!(
                    max_connections = cap,
                    suppressed,
                    "connection refused: the server is at its connection cap (503)"
                );
            }
            match Arc::clone(&lingering).try_acquire_owned() {
                Ok(slot) => {
                    tokio::spawn(async move {
                        refuse(tcp).await;
                        drop(slot);
                    });
                }
                Err(_) => drop(tcp),
            }
            continue;
        };
        if let Err(err) = tcp.set_nodelay(true) {
            // Realtime traffic is many small writes: without TCP_NODELAY a packet written
            // right after another would wait for an ACK (up to 40 ms).
            tracing::debug!(%err, "could not set TCP_NODELAY");
        }
        let io = TokioIo::new(Counted {
            tcp,
            _permit: permit,
            closed: Arc::clone(&closed),
        });
        let service = hyper_util::service::TowerToHyperService::new(app.clone().map_request(
            move |mut request: http::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(addr));
                request
            },
        ));
        let (http, stopping) = (Arc::clone(&http), stopping.clone());
        tokio::spawn(async move {
            let conn = http.serve_connection(io, service).with_upgrades();
            tokio::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                _ = stopping.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(err) = result {
                tracing::debug!(%err, %addr, "HTTP connection ended with an error");
            }
        });
    }

    // Graceful shutdown.
    drop(listener);
    let deadline = tokio::time::Instant::now() + options.shutdown_timeout;
    tracing::info!(timeout = ?options.shutdown_timeout, "shutting down: waiting for running handlers");
    if tokio::time::timeout_at(deadline, drain.handlers_finished())
        .await
        .is_err()
    {
        tracing::warn!("shutting down: handlers still running at the deadline");
    }
    drain.close_connections();
    stopping.cancel();
    // Every open connection holds a permit until it closes.
    let all = u32::try_from(cap).unwrap_or(u32::MAX);
    // Closing connections flush for up to a second each; give them that even at the deadline.
    let flush = tokio::time::Instant::now() + crate::websocket::conn::CLOSE_FLUSH_TIMEOUT * 2;
    match tokio::time::timeout_at(deadline.max(flush), permits.acquire_many(all)).await {
        Ok(_) => tracing::info!("shut down: every connection closed"),
        Err(_) => tracing::warn!(
            open = cap - permits.available_permits(),
            "shut down with connections still open at the deadline"
        ),
    }
    Ok(())
}

/// Answers a connection past the cap with a 503 and closes it, reading what the client sent
/// meanwhile so that the close does not reset the connection (which would discard the
/// answer before the client read it).
async fn refuse(mut tcp: TcpStream) {
    let body = "the server is at its connection limit; try again shortly\n";
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(REFUSAL_LINGER, async {
        tcp.write_all(response.as_bytes()).await?;
        tcp.shutdown().await?;
        let mut sink = [0u8; 1024];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut tcp, &mut sink).await?;
            if n == 0 {
                return io::Result::Ok(());
            }
        }
    })
    .await;
}

/// Errors of `accept` that mean the process (or system) is out of something, not that one
/// peer misbehaved.
fn is_resource_exhaustion(err: &io::Error) -> bool {
    const EMFILE: i32 = 24;
    const ENFILE: i32 = 23;
    const ENOBUFS: i32 = 105;
    const ENOMEM: i32 = 12;
    matches!(err.raw_os_error(), Some(EMFILE | ENFILE | ENOBUFS | ENOMEM))
}

/// Logs the first event of a burst, then at most one line per [`REFUSAL_LOG_EVERY`] with
/// how many were left out.
#[derive(Default)]
struct BurstLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl BurstLog {
    /// Counts an event; `Some(left out since the last line)` when it should be logged.
    fn hit(&mut self) -> Option<u64> {
        let now = Instant::now();
        match self.last {
            Some(last) if now.duration_since(last) < REFUSAL_LOG_EVERY => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// A connection's socket with its place under the connection cap: the permit is released
/// when the socket is dropped, wherever it went (an upgraded WebSocket keeps it).
struct Counted {
    tcp: TcpStream,
    _permit: OwnedSemaphorePermit,
    closed: Arc<tokio::sync::Notify>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.closed.notify_waiters();
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// The default connection cap: what the process's open-file limit allows, keeping a
/// fiftieth (at least 64) for everything else the process opens (log files, a database
/// pool, the Redis connection). Linux's `/proc/self/limits`; 10 000
/// where it cannot be read.
pub(crate) fn default_max_connections() -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<usize>().ok())
        });
    match soft {
        Some(soft) => soft.saturating_sub((soft / 50).max(64)).max(1),
        None => 10_000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_are_logged_once_then_summed_up() {
        let mut log = BurstLog::default();
        assert_eq!(log.hit(), Some(0));
        for _ in 0..100 {
            assert_eq!(log.hit(), None);
        }
        log.last = Some(Instant::now() - REFUSAL_LOG_EVERY);
        assert_eq!(log.hit(), Some(100));
    }

    #[test]
    fn the_default_cap_leaves_room_under_the_open_file_limit() {
        let cap = default_max_connections();
        assert!(cap >= 1);
    }
}
