//! The only door to the filesystem for paths the model sent.
//!
//! A `Workspace` holds an open handle to the root directory. Every path a tool receives becomes a
//! `WorkspacePath` (lexically checked), and is then opened relative to the root handle by `resolve`, so the kernel
//! refuses anything that leaves the root: `..`, absolute symlinks, /proc magic links. Nothing here checks a path
//! and then reopens it by name.

mod resolve;
pub(crate) mod walk;
pub(crate) mod write;

use std::fs::{File, Metadata};
use std::hash::Hasher;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

pub(crate) use resolve::Resolver;

use crate::error::{ErrorKind, ToolError, ToolResult};

/// A path the model sent, checked lexically and made relative to the root.
/// Invariant: relative, no NUL, no `.` components; `..` may remain (the kernel decides whether it leaves the root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspacePath {
    rel: PathBuf,
}

impl WorkspacePath {
    /// The path relative to the root, `.` for the root itself: what results show the model.
    pub fn display(&self) -> String {
        if self.rel.as_os_str().is_empty() { ".".to_string() } else { self.rel.to_string_lossy().into_owned() }
    }
    pub fn is_root(&self) -> bool {
        self.rel.as_os_str().is_empty()
    }
    pub fn as_rel(&self) -> &Path {
        &self.rel
    }
}

pub struct Workspace {
    root_fd: OwnedFd,
    /// The root as the user named it (absolute) and as the kernel resolves it; absolute paths under either are accepted.
    root_given: PathBuf,
    root_real: PathBuf,
    resolver: Resolver,
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspace").field("root", &self.root_real).field("resolver", &self.resolver).finish()
    }
}

impl Workspace {
    /// Opens the root directory with the best resolver this kernel offers.
    pub fn open(root: &Path) -> Result<Workspace, String> {
        Self::open_with(root, None)
    }

    /// Opens the root, forcing a resolver (tests use this to exercise the fallback walk).
    pub fn open_with(root: &Path, resolver: Option<Resolver>) -> Result<Workspace, String> {
        let abs = std::path::absolute(root).map_err(|e| format!("cannot use {} as the root: {e}", root.display()))?;
        let file = File::open(&abs).map_err(|e| format!("cannot open the root {}: {e}", abs.display()))?;
        if !file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
            return Err(format!("the root {} is not a directory", abs.display()));
        }
        let root_fd: OwnedFd = file.into();
        let root_real = resolve::fd_path(root_fd.as_fd()).map_err(|e| format!("cannot resolve the root: {e}"))?;
        let resolver = resolver.unwrap_or_else(|| Resolver::detect(root_fd.as_fd()));
        Ok(Workspace { root_fd, root_given: abs, root_real, resolver })
    }

    pub fn root(&self) -> &Path {
        &self.root_real
    }

    pub fn resolver(&self) -> Resolver {
        self.resolver
    }

    /// Checks a path the model sent. Absolute paths must lie under the root; the rest is left to the kernel.
    pub fn path(&self, user: &str) -> ToolResult<WorkspacePath> {
        if user.as_bytes().contains(&0) {
            return Err(ToolError::invalid(format!("path {user:?} contains a NUL byte; send the path without it")));
        }
        let p = Path::new(user);
        let rel = if p.is_absolute() {
            p.strip_prefix(&self.root_real)
                .or_else(|_| p.strip_prefix(&self.root_given))
                .map_err(|_| self.outside(user))?
        } else {
            p
        };
        let mut clean = PathBuf::new();
        for c in rel.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir => clean.push(".."),
                Component::Normal(n) => clean.push(n),
                Component::RootDir | Component::Prefix(_) => return Err(self.outside(user)),
            }
        }
        Ok(WorkspacePath { rel: clean })
    }

    fn outside(&self, user: &str) -> ToolError {
        ToolError::new(
            ErrorKind::OutsideWorkspace,
            format!(
                "path {user:?} is outside the workspace {}; use a path relative to the workspace root, \
                 with no '..' or symlink leading out of it",
                self.root_real.display()
            ),
        )
    }

    /// Maps what the kernel said while resolving `p` to an error the model can act on.
    fn map_errno(&self, p: &WorkspacePath, e: Errno) -> ToolError {
        let shown = p.display();
        match e {
            Errno::EXDEV => self.outside(&shown),
            Errno::ELOOP => ToolError::new(
                ErrorKind::OutsideWorkspace,
                format!(
                    "path {shown:?} goes through a symlink loop or a /proc magic link, which codebox does not follow; \
                     use the real path inside the workspace"
                ),
            ),
            Errno::ENOENT => ToolError::new(
                ErrorKind::NotFound,
                format!("{shown:?} does not exist in the workspace; list_directory or find_files shows what does"),
            ),
            Errno::ENOTDIR => {
                ToolError::new(ErrorKind::WrongFileType, format!("a component of {shown:?} is not a directory"))
            }
            Errno::EACCES | Errno::EPERM => {
                ToolError::new(ErrorKind::PermissionDenied, format!("permission denied for {shown:?}"))
            }
            Errno::ENAMETOOLONG => ToolError::invalid(format!("path {shown:?} is too long")),
            other => ToolError::new(ErrorKind::Io, format!("cannot open {shown:?}: {}", other.desc())),
        }
    }

    fn open_raw(&self, p: &WorkspacePath, flags: OFlag) -> ToolResult<OwnedFd> {
        self.resolver.open(self.root_fd.as_fd(), &p.rel, flags, Mode::empty()).map_err(|e| self.map_errno(p, e))
    }

    /// Opens a regular file for reading. FIFOs, devices and sockets are refused at once: O_NONBLOCK keeps the open
    /// of a FIFO from waiting for a writer, and the type is checked on the open fd, not on the name.
    pub fn open_file(&self, p: &WorkspacePath) -> ToolResult<(File, Metadata)> {
        let fd = match self.resolver.open(
            self.root_fd.as_fd(),
            &p.rel,
            OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            // Sockets (and devices without a driver) cannot be opened for reading at all; O_PATH still opens them,
            // so the type check below can name what the path is.
            Err(Errno::ENXIO) => self.open_raw(p, OFlag::O_PATH)?,
            Err(e) => return Err(self.map_errno(p, e)),
        };
        let file = File::from(fd);
        let meta = file
            .metadata()
            .map_err(|e| ToolError::new(ErrorKind::Io, format!("cannot stat {:?}: {e}", p.display())))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            return Err(ToolError::new(
                ErrorKind::WrongFileType,
                format!("{:?} is a directory; use list_directory to see what it holds", p.display()),
            ));
        }
        if !ft.is_file() {
            let what = if ft.is_fifo() {
                "a FIFO"
            } else if ft.is_socket() {
                "a socket"
            } else if ft.is_block_device() || ft.is_char_device() {
                "a device"
            } else {
                "not a regular file"
            };
            return Err(ToolError::new(
                ErrorKind::WrongFileType,
                format!("{:?} is {what}; codebox reads regular files only", p.display()),
            ));
        }
        // Regular files ignore O_NONBLOCK, so the fd can be used as is.
        Ok((file, meta))
    }

    /// Opens a directory beneath the root and returns its real absolute path, for walkers that work by path.
    /// The path is verified beneath the root at the moment of the call; walkers never follow symlinks from it.
    pub fn dir_path(&self, p: &WorkspacePath) -> ToolResult<PathBuf> {
        let fd = self.open_raw(p, OFlag::O_RDONLY | OFlag::O_DIRECTORY).map_err(|e| {
            if *e.kind() == ErrorKind::WrongFileType {
                ToolError::new(
                    ErrorKind::WrongFileType,
                    format!("{:?} is not a directory; read_file reads files", p.display()),
                )
            } else {
                e
            }
        })?;
        let real = resolve::fd_path(fd.as_fd()).map_err(|e| self.map_errno(p, e))?;
        if !real.starts_with(&self.root_real) {
            return Err(self.outside(&p.display()));
        }
        Ok(real)
    }

    /// How many entries a directory a walk found holds (`real`: a path under the root, as walkers report them),
    /// counted through a handle opened beneath the root, never by reopening the name.
    pub fn entry_count(&self, real: &Path) -> Option<usize> {
        let rel = real.strip_prefix(&self.root_real).ok()?;
        let rel = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
        let fd =
            self.resolver.open(self.root_fd.as_fd(), rel, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).ok()?;
        let mut dir = nix::dir::Dir::from_fd(fd).ok()?;
        Some(dir.iter().flatten().filter(|e| !matches!(e.file_name().to_bytes(), b"." | b"..")).count())
    }

    /// Where a symlink a walk found points (`real`: a path under the root), read through its directory's handle
    /// opened beneath the root. The target is only shown, never followed.
    pub fn link_target(&self, real: &Path) -> Option<String> {
        let rel = real.strip_prefix(&self.root_real).ok()?;
        let name = rel.file_name()?;
        let parent = match rel.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir =
            self.resolver.open(self.root_fd.as_fd(), parent, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()).ok()?;
        let target = nix::fcntl::readlinkat(dir.as_fd(), name).ok()?;
        Some(target.to_string_lossy().into_owned())
    }

    /// A real path under the root as the model should see it: relative to the root.
    pub fn relative_display(&self, real: &Path) -> String {
        match real.strip_prefix(&self.root_real) {
            Ok(r) if r.as_os_str().is_empty() => ".".into(),
            Ok(r) => String::from_utf8_lossy(r.as_os_str().as_bytes()).into_owned(),
            Err(_) => real.to_string_lossy().into_owned(),
        }
    }
}

/// Files up to this size are versioned by a hash of their content. Larger files by size, mtime and inode:
/// hashing gigabytes on every read would cost seconds.
pub(crate) const CONTENT_VERSION_MAX: u64 = 8 << 20;

/// The version of a file's content: 12 hex digits of a hash. Writes compare it to refuse stale edits.
///
/// The hash is computed on every read of a small file, so it is a fast one (eight bytes per multiply, SipHash
/// costs several times more): each step `h = (h.rotl(23) ^ word) * K` is a bijection of `h` for a fixed word, so
/// two contents differing in one word always hash apart, and murmur's finalizer mixes every bit into the 48 shown.
/// Nothing adversarial is at stake: a version only tells a writer the file changed since it was read.
pub(crate) fn content_version(bytes: &[u8]) -> String {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = bytes.len() as u64 ^ K;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        h = (h.rotate_left(23) ^ u64::from_le_bytes(w.try_into().unwrap_or_default())).wrapping_mul(K);
    }
    let mut last = [0u8; 8];
    last[..words.remainder().len()].copy_from_slice(words.remainder());
    h = (h.rotate_left(23) ^ u64::from_le_bytes(last)).wrapping_mul(K);
    // murmur3's fmix64.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    format!("{:012x}", h & 0xffff_ffff_ffff)
}

/// The content version before it was a word hash (std's SipHash, 48 bits): undo histories written then hold it.
pub(crate) fn legacy_content_version(bytes: &[u8]) -> String {
    let mut h = std::hash::DefaultHasher::new();
    h.write(bytes);
    format!("{:012x}", h.finish() & 0xffff_ffff_ffff)
}

/// The version of a file too large to hash on every read.
pub(crate) fn meta_version(meta: &Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    let mut h = std::hash::DefaultHasher::new();
    for v in [meta.len(), meta.ino(), meta.mtime() as u64, meta.mtime_nsec() as u64] {
        h.write_u64(v);
    }
    format!("m{:011x}", h.finish() & 0x7ff_ffff_ffff)
}

/// The version read_file reports and writes check: content hash for files up to `CONTENT_VERSION_MAX`.
pub(crate) fn version_of(bytes: &[u8], meta: &Metadata) -> String {
    if bytes.len() as u64 <= CONTENT_VERSION_MAX { content_version(bytes) } else { meta_version(meta) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version is 12 hex digits, the same for the same bytes, and different when any one byte changes.
    #[test]
    fn content_version_changes_with_every_byte() {
        let base: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let v = content_version(&base);
        assert_eq!(v.len(), 12);
        assert!(v.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(v, content_version(&base.clone()));
        for at in 0..base.len() {
            let mut changed = base.clone();
            changed[at] ^= 1;
            assert_ne!(content_version(&changed), v, "flipping byte {at}");
        }
        assert_ne!(content_version(&base[..999]), v, "a shorter file");
        assert_ne!(content_version(b""), content_version(b"\0"));
    }
    use std::os::unix::fs::symlink;

    fn setup() -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("proj");
        std::fs::create_dir_all(root.join("src/sub")).unwrap();
        std::fs::write(root.join("src/a.txt"), "hello").unwrap();
        std::fs::write(t.path().join("secret"), "s3cret").unwrap();
        std::fs::create_dir(t.path().join("proj-evil")).unwrap();
        std::fs::write(t.path().join("proj-evil/x"), "evil").unwrap();
        symlink("../a.txt", root.join("src/sub/inside")).unwrap();
        symlink("../secret", root.join("up")).unwrap();
        symlink(t.path().join("secret"), root.join("abs")).unwrap();
        symlink("/proc/self/root/etc/passwd", root.join("magic")).unwrap();
        symlink("loop2", root.join("loop1")).unwrap();
        symlink("loop1", root.join("loop2")).unwrap();
        (t, root)
    }

    /// Each case: path, expected outcome ("ok:<content>" or the error kind), checked under both resolvers.
    #[test]
    fn resolution_is_the_same_under_both_resolvers() {
        let (t, root) = setup();
        let evil = t.path().join("proj-evil/x");
        let cases: &[(&str, &str)] = &[
            ("src/a.txt", "ok:hello"),
            ("./././src/a.txt", "ok:hello"),
            ("src/sub/../a.txt", "ok:hello"),
            ("src/sub/inside", "ok:hello"),
            ("../secret", "OutsideWorkspace"),
            ("src/../../secret", "OutsideWorkspace"),
            ("up", "OutsideWorkspace"),
            ("abs", "OutsideWorkspace"),
            ("magic", "OutsideWorkspace"),
            ("loop1", "OutsideWorkspace"),
            ("/etc/passwd", "OutsideWorkspace"),
            (evil.to_str().unwrap(), "OutsideWorkspace"),
            ("src/a.txt ", "NotFound"),
            ("SRC/a.txt", "NotFound"),
            ("src", "WrongFileType"),
            ("a\0b", "InvalidArgument"),
        ];
        let abs_ok = root.join("src/a.txt");
        for resolver in [Resolver::Openat2, Resolver::Walk] {
            let ws = Workspace::open_with(&root, Some(resolver)).unwrap();
            let mut all: Vec<(&str, &str)> = cases.to_vec();
            all.push((abs_ok.to_str().unwrap(), "ok:hello"));
            for (input, want) in all {
                let got = ws.path(input).and_then(|p| ws.open_file(&p)).map(|(mut f, _)| {
                    let mut s = String::new();
                    std::io::Read::read_to_string(&mut f, &mut s).unwrap();
                    s
                });
                let got = match got {
                    Ok(s) => format!("ok:{s}"),
                    Err(e) => format!("{:?}", e.kind()),
                };
                assert_eq!(got, want, "{resolver:?} {input:?}");
            }
        }
    }

    #[test]
    fn fifo_is_refused_without_waiting() {
        let (_t, root) = setup();
        nix::unistd::mkfifo(&root.join("p"), Mode::from_bits_truncate(0o600)).unwrap();
        for resolver in [Resolver::Openat2, Resolver::Walk] {
            let ws = Workspace::open_with(&root, Some(resolver)).unwrap();
            let e = ws.open_file(&ws.path("p").unwrap()).unwrap_err();
            assert_eq!(*e.kind(), ErrorKind::WrongFileType);
            assert!(e.message().contains("FIFO"), "{}", e.message());
        }
    }

    #[test]
    fn dir_path_stays_beneath_root() {
        let (t, root) = setup();
        symlink(t.path(), root.join("outdir")).unwrap();
        symlink("src/sub", root.join("subdir")).unwrap();
        for resolver in [Resolver::Openat2, Resolver::Walk] {
            let ws = Workspace::open_with(&root, Some(resolver)).unwrap();
            assert_eq!(ws.dir_path(&ws.path("subdir").unwrap()).unwrap(), ws.root().join("src/sub"));
            assert_eq!(
                ws.dir_path(&ws.path("outdir").unwrap()).unwrap_err().kind().clone(),
                ErrorKind::OutsideWorkspace
            );
            assert_eq!(
                ws.dir_path(&ws.path("src/a.txt").unwrap()).unwrap_err().kind().clone(),
                ErrorKind::WrongFileType
            );
        }
    }
}
