//! Opening a path beneath the root directory handle, never by absolute name.
//!
//! Two strategies with the same semantics: `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` where the kernel
//! has it (Linux 5.6+), and otherwise a component-by-component walk that opens every component with
//! `O_NOFOLLOW`, reads symlinks itself and refuses any that leave the root. Neither checks a path and then reopens
//! it by name, so a rename race cannot redirect the open (ATTACKS.md F6).

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat, openat2, readlinkat};
use nix::sys::stat::{Mode, SFlag, fstat};

/// Linux's own limit on symlinks followed in one resolution; the walk uses the same so both agree.
const MAX_SYMLINKS: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolver {
    Openat2,
    Walk,
}

impl Resolver {
    /// Openat2 when the kernel answers it, else the walk.
    pub fn detect(root: BorrowedFd<'_>) -> Resolver {
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        match openat2(root, ".", how) {
            Ok(_) => Resolver::Openat2,
            Err(_) => Resolver::Walk,
        }
    }

    /// Opens `rel` (relative, without a NUL) beneath `root` with `flags`. `EXDEV` means the path left the root.
    pub fn open(self, root: BorrowedFd<'_>, rel: &Path, flags: OFlag, mode: Mode) -> Result<OwnedFd, Errno> {
        let rel: &Path = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
        match self {
            Resolver::Openat2 => {
                let how = OpenHow::new()
                    .flags(flags | OFlag::O_CLOEXEC)
                    .mode(mode)
                    .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
                loop {
                    match openat2(root, rel, how) {
                        // openat2 asks the caller to retry when a concurrent rename raced the lookup.
                        Err(Errno::EAGAIN) | Err(Errno::EINTR) => continue,
                        other => return other,
                    }
                }
            }
            Resolver::Walk => walk_open(root, rel, flags | OFlag::O_CLOEXEC, mode),
        }
    }
}

/// The fallback: resolves one component at a time from the root fd, following symlinks by hand.
fn walk_open(root: BorrowedFd<'_>, rel: &Path, flags: OFlag, mode: Mode) -> Result<OwnedFd, Errno> {
    let mut todo: VecDeque<OsString> = VecDeque::new();
    push_components(&mut todo, rel, Queue::Back)?;
    // `stack[0]` is the root; `..` pops, and popping the root means leaving the workspace.
    let mut stack: Vec<OwnedFd> =
        vec![openat(root, ".", OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())?];
    let mut links = 0;
    if todo.is_empty() {
        return openat(root, ".", flags, mode);
    }
    while let Some(name) = todo.pop_front() {
        let cur = stack.last().expect("stack never empty").as_fd();
        if name == ".." {
            if stack.len() == 1 {
                return Err(Errno::EXDEV);
            }
            stack.pop();
            if todo.is_empty() {
                let cur = stack.last().expect("stack never empty").as_fd();
                return openat(cur, ".", flags, mode);
            }
            continue;
        }
        let last = todo.is_empty();
        // O_PATH|O_NOFOLLOW opens the symlink itself, so its type can be checked without following it.
        let probe =
            match openat(cur, name.as_os_str(), OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty()) {
                Ok(fd) => Some(fd),
                Err(Errno::ENOENT) if last && flags.contains(OFlag::O_CREAT) => None,
                Err(e) => return Err(e),
            };
        if let Some(probe) = &probe {
            let st = fstat(probe)?;
            if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(Errno::ELOOP);
                }
                let target = readlinkat(cur, name.as_os_str())?;
                push_components(&mut todo, Path::new(&target), Queue::Front)?;
                continue;
            }
        }
        if last {
            // O_NOFOLLOW: if the name was swapped for a symlink since the probe, this fails instead of following it.
            return openat(cur, name.as_os_str(), flags | OFlag::O_NOFOLLOW, mode);
        }
        let dir = openat(
            cur,
            name.as_os_str(),
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        stack.push(dir);
    }
    unreachable!("the loop returns at the last component")
}

/// Where a path's components join the queue of those still to walk.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Queue {
    /// Next: a symlink's target replaces the link.
    Front,
    Back,
}

/// Queues `path`'s components (at the front when they come from a symlink target). Absolute targets leave the root.
fn push_components(todo: &mut VecDeque<OsString>, path: &Path, at: Queue) -> Result<(), Errno> {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => return Err(Errno::EXDEV),
            Component::CurDir => {}
            Component::ParentDir => parts.push(OsString::from("..")),
            Component::Normal(n) => parts.push(n.to_os_string()),
        }
    }
    if at == Queue::Front {
        for p in parts.into_iter().rev() {
            todo.push_front(p);
        }
    } else {
        todo.extend(parts);
    }
    Ok(())
}

/// The absolute path the kernel has for an open fd (used to hand a verified directory to path-based walkers).
pub(super) fn fd_path(fd: BorrowedFd<'_>) -> Result<std::path::PathBuf, Errno> {
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let target = nix::fcntl::readlink(Path::new(&link))?;
    Ok(std::path::PathBuf::from(OsStr::from_bytes(target.as_bytes())))
}
