//! A TCP stream that can report when the kernel received the bytes it reads.
//!
//! With `SO_TIMESTAMPING` (`SOF_TIMESTAMPING_RX_SOFTWARE`) the kernel stamps each incoming
//! packet as it enters the network stack, and `recvmsg` hands back the stamp of the last
//! packet it read. On loopback that is the moment the server's `write` reached the
//! receiving socket: a latency measured to it leaves out how long the load generator then
//! took to get round to reading the socket — its own scheduling and per-receipt work on
//! the cores it shares with the server.

use std::{
    io,
    os::fd::{AsRawFd, RawFd},
    pin::Pin,
    sync::OnceLock,
    task::{ready, Context, Poll},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, Interest, ReadBuf},
    net::TcpStream,
};

pub struct Stream {
    tcp: TcpStream,
    rx_timestamps: bool,
    /// Kernel receive time of the last packet read, CLOCK_MONOTONIC µs (0: none yet).
    last_rx_us: u64,
}

impl Stream {
    pub fn new(tcp: TcpStream) -> Stream {
        Stream {
            tcp,
            rx_timestamps: false,
            last_rx_us: 0,
        }
    }

    /// Asks the kernel to stamp received packets; reads use `recvmsg` from now on.
    pub fn enable_rx_timestamps(&mut self) -> io::Result<()> {
        let flags: libc::c_uint =
            libc::SOF_TIMESTAMPING_RX_SOFTWARE | libc::SOF_TIMESTAMPING_SOFTWARE;
        // SAFETY: setsockopt with a valid fd and a c_uint option value.
        let r = unsafe {
            libc::setsockopt(
                self.tcp.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPING,
                &flags as *const libc::c_uint as *const libc::c_void,
                std::mem::size_of::<libc::c_uint>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        self.rx_timestamps = true;
        Ok(())
    }

    /// Ends the connection abruptly, as a network cut seen by the peer: `SO_LINGER` 0, so
    /// that closing the socket sends a TCP reset (no FIN, no WebSocket close frame) and
    /// discards whatever was still unsent or unread.
    pub fn reset_on_close(&self) -> io::Result<()> {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt with a valid fd and a linger struct.
        let r = unsafe {
            libc::setsockopt(
                self.tcp.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                &linger as *const libc::linger as *const libc::c_void,
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Kernel receive time (CLOCK_MONOTONIC µs) of the last packet read so far, if
    /// timestamps are enabled and one came.
    pub fn last_rx_us(&self) -> Option<u64> {
        (self.last_rx_us > 0).then_some(self.last_rx_us)
    }
}

/// One non-blocking `recvmsg` on `fd` into `buf`: the byte count and the kernel's receive
/// stamp of the last packet read (CLOCK_MONOTONIC µs), if it gave one.
fn recvmsg_fd(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // Room for one SCM_TIMESTAMPING (3 timespecs) and then some, 8-byte aligned.
    let mut control = [0u64; 16];
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: the fd is open; iov and control point to live buffers of the given sizes.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut stamp = None;
    // SAFETY: walking the control messages the kernel wrote, with the libc macros.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let h = &*c;
            // SO_TIMESTAMPING_OLD (37) or _NEW (65): both are 3 × (i64 s, i64 ns) on
            // 64-bit Linux; [0] is the software stamp.
            if h.cmsg_level == libc::SOL_SOCKET && (h.cmsg_type == 37 || h.cmsg_type == 65) {
                let data = libc::CMSG_DATA(c) as *const [i64; 2];
                let [sec, nsec] = std::ptr::read_unaligned(data);
                if sec > 0 {
                    let real_us = sec as u64 * 1_000_000 + nsec as u64 / 1_000;
                    stamp = Some(real_us.saturating_sub(realtime_minus_monotonic_us()));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, stamp))
}

/// CLOCK_REALTIME − CLOCK_MONOTONIC in µs, measured once per process (the tightest of a
/// few bracketed readings): kernel stamps are wall-clock, payload stamps monotonic.
fn realtime_minus_monotonic_us() -> u64 {
    static OFFSET: OnceLock<u64> = OnceLock::new();
    *OFFSET.get_or_init(|| {
        let clock = |id| {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: clock_gettime writes one timespec.
            unsafe { libc::clock_gettime(id, &mut ts) };
            ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
        };
        let mut best = (u64::MAX, 0);
        for _ in 0..9 {
            let a = clock(libc::CLOCK_MONOTONIC);
            let r = clock(libc::CLOCK_REALTIME);
            let b = clock(libc::CLOCK_MONOTONIC);
            if b - a < best.0 {
                best = (b - a, r - (a + (b - a) / 2));
            }
        }
        best.1 / 1_000
    })
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.rx_timestamps {
            return Pin::new(&mut this.tcp).poll_read(cx, buf);
        }
        loop {
            ready!(this.tcp.poll_read_ready(cx))?;
            let fd = this.tcp.as_raw_fd();
            let unfilled = buf.initialize_unfilled();
            match this
                .tcp
                .try_io(Interest::READABLE, || recvmsg_fd(fd, unfilled))
            {
                Ok((n, stamp)) => {
                    if let Some(us) = stamp {
                        this.last_rx_us = us;
                    }
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// On loopback the kernel stamps the bytes when the peer writes them: the stamp of
    /// data written before a pause is older than the read that follows the pause.
    #[tokio::test]
    async fn loopback_reads_carry_the_write_time() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, server) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let mut rx = Stream::new(client.unwrap());
        rx.enable_rx_timestamps().unwrap();
        let (mut tx, _) = server.unwrap();
        let written = crate::util::now_us();
        tx.write_all(b"hello").await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut buf = [0u8; 16];
        let n = rx.read(&mut buf).await.unwrap();
        let read = crate::util::now_us();
        assert_eq!(&buf[..n], b"hello");
        let stamp = rx.last_rx_us().expect("a receive timestamp");
        assert!(
            stamp + 1_000 >= written,
            "stamp {stamp} before the write {written}"
        );
        assert!(
            stamp + 40_000 <= read,
            "stamp {stamp} not before the read {read}"
        );
    }
}
