//! Writes beneath the root: atomic replace through a directory fd, never by name from the root.
//!
//! A write resolves the target's directory beneath the root (creating missing directories one `mkdirat` at a
//! time), refuses protected paths and hard-linked files, writes the new content into an anonymous `O_TMPFILE` in
//! that directory, fsyncs it, links it under a temporary name and renames it over the target, then fsyncs the
//! directory. A crash leaves the old file or the new one, never a mix; the only window for a stray temporary name
//! is between link and rename, and the next write in that directory sweeps such leftovers.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, RenameFlags};
use nix::sys::stat::Mode;

use super::{Workspace, WorkspacePath};
use crate::error::{ErrorKind, ToolError, ToolResult};

/// Marks codebox's temporary names, so a leftover can be recognised and removed safely.
const TMP_MARK: &str = ".codebox-tmp-";

/// A file opened for an edit: its bytes, as read through the same resolution the write will use.
pub struct Existing {
    pub bytes: Vec<u8>,
    pub mode: u32,
    /// As read_file reports it, so `expected_version` compares like with like.
    pub version: String,
}

/// What a write did.
pub struct Written {
    /// The path relative to the root, as the kernel resolved it.
    pub rel: PathBuf,
    pub created: bool,
    /// The new file's version.
    pub version: String,
}

/// The resolved place of a file: its directory (an fd beneath the root) and its name there.
struct Place {
    dir: OwnedFd,
    name: OsString,
    rel: PathBuf,
}

/// Whether a write may create the missing directories above its file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parents {
    Create,
    MustExist,
}

impl Workspace {
    /// Refuses paths codebox never writes: anything inside a `.git` directory (hooks, config, objects, refs),
    /// and the configured protected paths. Checked on the path as given and on the path as resolved, so a
    /// `.git` swapped for a symlink cannot launder a write.
    fn check_protected(&self, given: &Path, resolved: &Path, protected: &[String]) -> ToolResult<()> {
        for p in [given, resolved] {
            if p.components().any(|c| c.as_os_str() == ".git") {
                return Err(ToolError::new(
                    ErrorKind::PermissionDenied,
                    format!(
                        "{:?} is inside .git; codebox does not write git internals (hooks, config, objects, refs). \
                         Use git commands for repository changes",
                        given.display().to_string()
                    ),
                ));
            }
            for prot in protected {
                if p.starts_with(prot) {
                    return Err(ToolError::new(
                        ErrorKind::PermissionDenied,
                        format!(
                            "{:?} is a protected path (sandbox.protected in codebox.toml)",
                            given.display().to_string()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Lexically normalised path (`a/b/../c` → `a/c`); `None` if it climbs above the root.
    fn lexical(p: &WorkspacePath) -> Option<PathBuf> {
        let mut out = PathBuf::new();
        for c in p.as_rel().components() {
            match c {
                Component::ParentDir if !out.pop() => {
                    return None;
                }
                Component::Normal(n) => out.push(n),
                _ => {}
            }
        }
        Some(out)
    }

    /// Resolves where `p` lives. An existing target that is a symlink (inside the workspace) is followed to the
    /// file it names; missing parent directories are created with `Parents::Create`.
    fn place(&self, p: &WorkspacePath, dirs: Parents, protected: &[String]) -> ToolResult<Place> {
        if p.is_root() {
            return Err(ToolError::invalid("path names the workspace root; give a file path"));
        }
        let lexical = Self::lexical(p).ok_or_else(|| self.outside(&p.display()))?;
        // An existing target: resolve it fully (symlinks beneath the root are followed, others refused).
        let target = match self.resolver.open(self.root_fd.as_fd(), &p.rel, OFlag::O_PATH, Mode::empty()) {
            Ok(fd) => Some(fd),
            Err(Errno::ENOENT) => None,
            Err(e) => return Err(self.map_errno(p, e)),
        };
        let (dir_rel, name): (PathBuf, OsString) = match target {
            Some(fd) => {
                let real = super::resolve::fd_path(fd.as_fd()).map_err(|e| self.map_errno(p, e))?;
                let rel = real.strip_prefix(&self.root_real).map_err(|_| self.outside(&p.display()))?.to_path_buf();
                let name = rel
                    .file_name()
                    .map(OsStr::to_os_string)
                    .ok_or_else(|| ToolError::invalid("path names a directory"))?;
                (rel.parent().map(Path::to_path_buf).unwrap_or_default(), name)
            }
            None => {
                let name = lexical
                    .file_name()
                    .map(OsStr::to_os_string)
                    .ok_or_else(|| ToolError::invalid("path has no file name"))?;
                (lexical.parent().map(Path::to_path_buf).unwrap_or_default(), name)
            }
        };
        let dir = self.open_dir_creating(&dir_rel, dirs, p)?;
        let dir_real = super::resolve::fd_path(dir.as_fd()).map_err(|e| self.map_errno(p, e))?;
        let dir_real_rel = dir_real.strip_prefix(&self.root_real).map_err(|_| self.outside(&p.display()))?;
        let rel = dir_real_rel.join(&name);
        self.check_protected(&lexical, &rel, protected)?;
        Ok(Place { dir, name, rel })
    }

    /// Opens a directory beneath the root, creating missing components one at a time (each `mkdirat` relative
    /// to a directory fd that was itself resolved beneath the root).
    fn open_dir_creating(&self, rel: &Path, dirs: Parents, shown: &WorkspacePath) -> ToolResult<OwnedFd> {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY;
        match self.resolver.open(self.root_fd.as_fd(), rel, flags, Mode::empty()) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) if dirs == Parents::Create => {}
            Err(Errno::ENOENT) => {
                return Err(ToolError::new(
                    ErrorKind::NotFound,
                    format!("directory {:?} does not exist", rel.display().to_string()),
                ));
            }
            Err(e) => return Err(self.map_errno(shown, e)),
        }
        let mut cur = PathBuf::new();
        let mut dir = self
            .resolver
            .open(self.root_fd.as_fd(), Path::new(""), flags, Mode::empty())
            .map_err(|e| self.map_errno(shown, e))?;
        for c in rel.components() {
            cur.push(c);
            match nix::sys::stat::mkdirat(dir.as_fd(), c.as_os_str(), Mode::from_bits_truncate(0o777)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(self.map_errno(shown, e)),
            }
            // Re-resolve from the root: whatever now stands at `cur` must still lie beneath it.
            dir = self
                .resolver
                .open(self.root_fd.as_fd(), &cur, flags, Mode::empty())
                .map_err(|e| self.map_errno(shown, e))?;
        }
        Ok(dir)
    }

    /// Reads a file for editing, refusing what a write would refuse (protected paths, hard links).
    pub fn read_for_edit(&self, p: &WorkspacePath, protected: &[String]) -> ToolResult<Existing> {
        let place = self.place(p, Parents::MustExist, protected)?;
        let fd = nix::fcntl::openat(
            place.dir.as_fd(),
            place.name.as_os_str(),
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.map_errno(p, e))?;
        read_existing(p, fd)
    }

    /// Replaces (or creates) the file at `p` with `content`, atomically. Returns what was there before, if anything.
    pub fn write_atomic(
        &self,
        p: &WorkspacePath,
        content: &[u8],
        protected: &[String],
    ) -> ToolResult<(Written, Option<Existing>)> {
        let place = self.place(p, Parents::Create, protected)?;
        sweep_leftovers(place.dir.as_fd());
        let before = match nix::fcntl::openat(
            place.dir.as_fd(),
            place.name.as_os_str(),
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => Some(read_existing(p, fd)?),
            Err(Errno::ENOENT) => None,
            Err(e) => return Err(self.map_errno(p, e)),
        };
        // New files get 0666 less the umask, as any editor would create them; existing files keep their mode.
        let mode = match &before {
            Some(b) => b.mode & 0o7777,
            None => 0o666 & !current_umask(),
        };
        let meta = write_into(place.dir.as_fd(), &place.name, content, mode)
            .map_err(|e| ToolError::new(ErrorKind::Io, format!("cannot write {:?}: {e}", p.display())))?;
        let version = super::version_of(content, &meta);
        Ok((Written { rel: place.rel, created: before.is_none(), version }, before))
    }

    /// `p` normalised (`a/../b` → `b`) for handing to a program as text; refused if it climbs above the root.
    /// Symlinks are the program's business then: it runs in the sandbox, which confines what it can reach.
    pub fn lexical_inside(&self, p: &WorkspacePath) -> ToolResult<PathBuf> {
        Self::lexical(p).ok_or_else(|| self.outside(&p.display()))
    }

    /// The path relative to the root that `p` resolves to now, if it exists.
    pub fn resolved_rel(&self, p: &WorkspacePath) -> Option<PathBuf> {
        let fd = self.resolver.open(self.root_fd.as_fd(), &p.rel, OFlag::O_PATH, Mode::empty()).ok()?;
        let real = super::resolve::fd_path(fd.as_fd()).ok()?;
        real.strip_prefix(&self.root_real).ok().map(Path::to_path_buf)
    }

    /// Removes a file codebox created (for undo of a creation).
    pub fn remove_file(&self, p: &WorkspacePath, protected: &[String]) -> ToolResult<()> {
        let place = self.place(p, Parents::MustExist, protected)?;
        nix::unistd::unlinkat(place.dir.as_fd(), place.name.as_os_str(), nix::unistd::UnlinkatFlags::NoRemoveDir)
            .map_err(|e| self.map_errno(p, e))
    }
}

fn io_err(p: &WorkspacePath, e: std::io::Error) -> ToolError {
    ToolError::new(ErrorKind::Io, format!("cannot read {:?}: {e}", p.display()))
}

fn check_regular(p: &WorkspacePath, meta: &std::fs::Metadata) -> ToolResult<()> {
    if !meta.file_type().is_file() {
        return Err(ToolError::new(ErrorKind::WrongFileType, format!("{:?} is not a regular file", p.display())));
    }
    if meta.nlink() > 1 {
        return Err(ToolError::new(
            ErrorKind::PermissionDenied,
            format!(
                "{:?} has {} hard links; another link may be outside the workspace, so codebox does not write it. \
                 Make it a file of its own first (e.g. run_command `cp --remove-destination`), then retry",
                p.display(),
                meta.nlink()
            ),
        ));
    }
    Ok(())
}

fn current_umask() -> u32 {
    // umask can only be read by setting it; restore at once. Process-wide, but set back to the same value.
    let old = nix::sys::stat::umask(Mode::from_bits_truncate(0o022));
    nix::sys::stat::umask(old);
    old.bits()
}

/// The atomic replace: O_TMPFILE, write, fsync, link under a temporary name, rename over the target, fsync dir.
fn write_into(dir: BorrowedFd<'_>, name: &OsStr, content: &[u8], mode: u32) -> std::io::Result<std::fs::Metadata> {
    // The pid in the name lets a later sweep tell a dead writer's leftover from a live concurrent write.
    let tmp_name = format!(
        ".{}{}{}-{:08x}",
        name.to_string_lossy().chars().take(40).collect::<String>(),
        TMP_MARK,
        std::process::id(),
        rand_u32()?
    );
    let anon = nix::fcntl::openat(
        dir,
        ".",
        OFlag::O_TMPFILE | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    );
    let result = match anon {
        Ok(fd) => {
            let mut f = File::from(fd);
            f.write_all(content)?;
            f.set_permissions(std::fs::Permissions::from_mode(mode))?;
            f.sync_all()?;
            let proc_path = format!("/proc/self/fd/{}", f.as_raw_fd());
            nix::unistd::linkat(
                nix::fcntl::AT_FDCWD,
                Path::new(&proc_path),
                dir,
                tmp_name.as_str(),
                AtFlags::AT_SYMLINK_FOLLOW,
            )
            .map_err(std::io::Error::from)?;
            f.metadata()
        }
        // Filesystems without O_TMPFILE: a named temporary file from the start.
        Err(Errno::EOPNOTSUPP) | Err(Errno::EISDIR) | Err(Errno::EINVAL) => {
            let fd = nix::fcntl::openat(
                dir,
                tmp_name.as_str(),
                OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            )?;
            let mut f = File::from(fd);
            let r = (|| {
                f.write_all(content)?;
                f.set_permissions(std::fs::Permissions::from_mode(mode))?;
                f.sync_all()?;
                f.metadata()
            })();
            if r.is_err() {
                let _ = nix::unistd::unlinkat(dir, tmp_name.as_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
            }
            r
        }
        Err(e) => Err(e.into()),
    };
    let meta = result?;
    if let Err(e) = nix::fcntl::renameat2(dir, tmp_name.as_str(), dir, name, RenameFlags::empty()) {
        let _ = nix::unistd::unlinkat(dir, tmp_name.as_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
        return Err(e.into());
    }
    // The rename is durable only once the directory is synced.
    let _ = nix::unistd::fsync(dir);
    Ok(meta)
}

/// The content, mode and version of the regular file open at `fd`.
fn read_existing(p: &WorkspacePath, fd: OwnedFd) -> ToolResult<Existing> {
    let mut f = File::from(fd);
    let meta = f.metadata().map_err(|e| io_err(p, e))?;
    check_regular(p, &meta)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.read_to_end(&mut bytes).map_err(|e| io_err(p, e))?;
    let version = super::version_of(&bytes, &meta);
    Ok(Existing { bytes, mode: meta.mode(), version })
}

/// Whether no process `pid` exists any more: what a leftover named after its maker's pid may be removed on.
pub(crate) fn process_is_gone(pid: i32) -> bool {
    pid > 0 && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) == Err(Errno::ESRCH)
}

/// Removes temporary names a killed codebox left between link and rename: only names codebox makes, and only
/// those whose writer process is gone.
fn sweep_leftovers(dir: BorrowedFd<'_>) {
    let Ok(d) = nix::fcntl::openat(dir, ".", OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
    else {
        return;
    };
    let Ok(mut d) = nix::dir::Dir::from_fd(d) else { return };
    let stale: Vec<OsString> = d
        .iter()
        .flatten()
        .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
        .filter(|n| {
            let n = n.to_string_lossy();
            let Some(rest) = n.split(TMP_MARK).nth(1) else { return false };
            let pid: i32 = rest.split('-').next().and_then(|p| p.parse().ok()).unwrap_or(0);
            process_is_gone(pid)
        })
        .collect();
    for n in stale {
        let _ = nix::unistd::unlinkat(dir, n.as_os_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
    }
}

/// A random suffix for a temporary name; without the system's randomness the write fails (two writers could
/// otherwise pick the same name).
fn rand_u32() -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    crate::random::fill(&mut b).map_err(std::io::Error::other)?;
    Ok(u32::from_ne_bytes(b))
}
