//! stdin and stdout as non-blocking pipes on the event loop.
//!
//! tokio's own `stdin()` reads on a blocking-pool thread, so every request pays two cross-thread wake-ups before
//! it is even parsed. When codebox's stdin and stdout are pipes (as every MCP client sets them up), they are put in
//! non-blocking mode and driven by epoll on the runtime's own thread instead. Anything else (a file, a terminal)
//! falls back to tokio's stdio.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub struct Pipe {
    fd: AsyncFd<OwnedFd>,
}

fn is_pipe(fd: i32) -> bool {
    // SAFETY: fds 0 and 1 are open for the life of the process.
    let Ok(st) = nix::sys::stat::fstat(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }) else { return false };
    let kind = nix::sys::stat::SFlag::from_bits_truncate(st.st_mode) & nix::sys::stat::SFlag::S_IFMT;
    kind == nix::sys::stat::SFlag::S_IFIFO || kind == nix::sys::stat::SFlag::S_IFSOCK
}

/// A duplicate of `fd` in non-blocking mode.
fn pipe(fd: i32) -> Option<Pipe> {
    // SAFETY: dup of an fd this process owns; the duplicate is owned by the OwnedFd.
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if dup < 0 {
        return None;
    }
    // SAFETY: `dup` is a fresh descriptor.
    let owned = unsafe { OwnedFd::from_raw_fd(dup) };
    // O_NONBLOCK is per open file description: it changes codebox's end of the pipe only (the client holds the
    // other end, children get /dev/null as stdin).
    // SAFETY: fcntl on a descriptor we own, with flag arguments only.
    let flags = unsafe { libc::fcntl(dup, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(dup, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return None;
    }
    AsyncFd::new(owned).ok().map(|fd| Pipe { fd })
}

/// stdin and stdout as event-loop pipes, or None when either is not a pipe. Both are checked before either is
/// touched: tokio's blocking stdio, the fallback, must not find a descriptor switched to non-blocking mode.
pub fn pipes() -> Option<(Pipe, Pipe)> {
    if !is_pipe(0) || !is_pipe(1) {
        return None;
    }
    Some((pipe(0)?, pipe(1)?))
}

impl AsyncRead for Pipe {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| {
                // SAFETY: reading into initialised memory we were lent, from an fd we own.
                let n = unsafe { libc::read(fd.as_raw_fd(), unfilled.as_mut_ptr().cast(), unfilled.len()) };
                if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
            }) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for Pipe {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard.try_io(|fd| {
                // SAFETY: writing from a buffer we were lent, to an fd we own.
                let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
                if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
            }) {
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
