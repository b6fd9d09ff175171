//! stdin and stdout as non-blocking pipes on the event loop.
//!
//! tokio's own `stdin()` reads on a blocking-pool thread, so every request pays two cross-thread wake-ups before
//! it is even parsed. When codebox's stdin and stdout are pipes or sockets (as every MCP client sets them up:
//! Python and Go give pipes, Node's libuv gives socket pairs), duplicates of them are driven by epoll on the
//! runtime's own thread instead, through tokio's pipe and Unix stream types. Anything else (a file, a terminal)
//! falls back to tokio's stdio.
//!
//! O_NONBLOCK is per open file description: it changes codebox's end only (the client holds the other end, and
//! children get /dev/null as stdin).

use std::os::fd::{AsFd, OwnedFd};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixStream;
use tokio::net::unix::pipe;

pub(super) type Input = Box<dyn AsyncRead + Send + Unpin>;
pub(super) type Output = Box<dyn AsyncWrite + Send + Unpin>;

/// What a standard descriptor is, as far as the event loop cares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Fifo,
    Socket,
    Other,
}

fn kind(fd: &OwnedFd) -> Kind {
    let Ok(st) = nix::sys::stat::fstat(fd.as_fd()) else { return Kind::Other };
    let kind = nix::sys::stat::SFlag::from_bits_truncate(st.st_mode) & nix::sys::stat::SFlag::S_IFMT;
    match kind {
        k if k == nix::sys::stat::SFlag::S_IFIFO => Kind::Fifo,
        k if k == nix::sys::stat::SFlag::S_IFSOCK => Kind::Socket,
        _ => Kind::Other,
    }
}

/// A duplicate (close-on-exec) of standard descriptor `fd` and what it is.
fn duplicate(fd: std::os::fd::BorrowedFd<'_>) -> Option<(OwnedFd, Kind)> {
    let owned = fd.try_clone_to_owned().ok()?;
    let k = kind(&owned);
    Some((owned, k))
}

fn socket(fd: OwnedFd) -> Option<UnixStream> {
    let std = std::os::unix::net::UnixStream::from(fd);
    std.set_nonblocking(true).ok()?;
    UnixStream::from_std(std).ok()
}

/// stdin and stdout on the event loop, or None when either is neither a pipe nor a socket. Both are checked
/// before either is switched to non-blocking mode: tokio's blocking stdio, the fallback, must not find one that is.
pub(super) fn pipes() -> Option<(Input, Output)> {
    let (input, in_kind) = duplicate(std::io::stdin().as_fd())?;
    let (output, out_kind) = duplicate(std::io::stdout().as_fd())?;
    if in_kind == Kind::Other || out_kind == Kind::Other {
        return None;
    }
    let input: Input = match in_kind {
        Kind::Fifo => Box::new(pipe::Receiver::from_owned_fd(input).ok()?),
        _ => Box::new(socket(input)?),
    };
    let output: Output = match out_kind {
        Kind::Fifo => Box::new(pipe::Sender::from_owned_fd(output).ok()?),
        _ => Box::new(socket(output)?),
    };
    Some((input, output))
}
