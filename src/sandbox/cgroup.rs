//! A cgroup per command and per job: memory (swap off), process count and CPU bounded for the whole tree, so a
//! fork bomb or a memory hog is stopped by the kernel even as root (where RLIMIT_NPROC does not apply). cgroup v2
//! where its controllers are available, else the v1 hierarchies. Each run's cgroup lives under codebox's own
//! cgroup (so whatever bounds codebox bounds it too); the run joins it before its helper execs, and it is
//! emptied and removed when the run ends, reporting whether the memory or process limit was hit.
//!
//! Everything here runs on the spawner thread: codebox's own confined threads may not write cgroupfs.

use std::path::{Path, PathBuf};

/// Where the cgroup controllers are, as found at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Hierarchy {
    /// One unified directory (codebox's own cgroup's parent chain, controllers delegated) under which runs go.
    V2 { base: PathBuf },
    /// One directory per controller: memory, pids, cpu.
    V1 { memory: PathBuf, pids: PathBuf, cpu: Option<PathBuf> },
}

/// The limits a run's cgroup gets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub memory_bytes: u64,
    pub processes: u64,
    /// CPUs' worth of time per period; None: unthrottled.
    pub cpus: Option<f64>,
}

/// One run's cgroup.
#[derive(Debug)]
pub(crate) struct RunGroup {
    /// Directories that make up the group (one on v2, one per controller on v1).
    dirs: Vec<PathBuf>,
    /// The `cgroup.procs` files the run's first process writes itself into.
    pub procs: Vec<PathBuf>,
    v2: bool,
}

/// What the kernel reported when the run ended.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Events {
    pub oom_kills: u64,
    pub pids_max_hits: u64,
}

const CPU_PERIOD_US: u64 = 100_000;

/// A cgroup filesystem's mount: where it is, and which cgroup of the hierarchy it shows there (relative).
#[derive(Clone)]
struct Mount {
    point: PathBuf,
    root: String,
}

impl Mount {
    /// The directory of cgroup `path` (as /proc/self/cgroup names it, relative) under this mount.
    fn dir_of(&self, path: &str) -> PathBuf {
        let below = if self.root.is_empty() {
            Some(path)
        } else {
            path.strip_prefix(self.root.as_str()).map(|rest| rest.trim_start_matches('/'))
        };
        // A cgroup outside what the mount shows has no directory here; the full path then fails to exist and
        // the caller reports that.
        self.point.join(below.unwrap_or(path))
    }
}

impl Hierarchy {
    /// Finds the controllers from /proc/self/mountinfo and /proc/self/cgroup, and a base under which codebox may
    /// create groups (a subtree of its own cgroup: `codebox-<pid>`). Err says why cgroups cannot be used.
    pub(crate) fn detect() -> Result<Hierarchy, String> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| format!("mountinfo: {e}"))?;
        let own = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| format!("/proc/self/cgroup: {e}"))?;
        let h = Self::from_tables(&mountinfo, &own, Path::new("/"))?;
        h.prepare()?;
        Ok(h)
    }

    /// The choice, from the two tables (testable against a fake tree under `root`).
    pub(crate) fn from_tables(mountinfo: &str, own: &str, root: &Path) -> Result<Hierarchy, String> {
        // Each mount with the cgroup it shows at its mount point: not always the hierarchy's root (a container
        // without a cgroup namespace mounts `/docker/<id>` there, and /proc/self/cgroup names that same path).
        let mut v2_mount: Option<Mount> = None;
        let mut v1: std::collections::HashMap<String, Mount> = Default::default();
        for line in mountinfo.lines() {
            // "<id> <parent> <maj:min> <root> <mount point> <opts> [optional...] - <fstype> <source> <super opts>"
            let Some((left, right)) = line.split_once(" - ") else { continue };
            let mut fields = left.split(' ');
            let mount_root = fields.nth(3).unwrap_or_default().trim_start_matches('/').to_string();
            let mount_point = fields.next().unwrap_or_default();
            let mut r = right.split(' ');
            let fstype = r.next().unwrap_or_default();
            let super_opts = r.nth(1).unwrap_or_default();
            let mp = root.join(mount_point.trim_start_matches('/'));
            let mount = Mount { point: mp, root: mount_root };
            match fstype {
                "cgroup2" => v2_mount = Some(mount),
                "cgroup" => {
                    for c in super_opts.split(',') {
                        if matches!(c, "memory" | "pids" | "cpu") {
                            v1.insert(c.to_string(), mount.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        // Own cgroup paths: "0::/path" for v2, "N:ctrl,ctrl:/path" for v1.
        let own_path = |ctrl: Option<&str>| -> Option<String> {
            own.lines().find_map(|l| {
                let mut parts = l.splitn(3, ':');
                let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
                let hit = match ctrl {
                    None => ctrls.is_empty(),
                    Some(c) => ctrls.split(',').any(|x| x == c),
                };
                hit.then(|| path.trim_start_matches('/').to_string())
            })
        };
        let pid = std::process::id();
        if let Some(m) = &v2_mount {
            // As root, directly under the hierarchy's root (the container's, with a cgroup namespace); otherwise in
            // codebox's own cgroup, which must be a delegated subtree.
            let own_dir = if nix::unistd::geteuid().is_root() && root == Path::new("/") {
                m.point.clone()
            } else {
                m.dir_of(&own_path(None).unwrap_or_default())
            };
            let available = std::fs::read_to_string(own_dir.join("cgroup.controllers")).unwrap_or_default();
            let has = |c: &str| available.split_whitespace().any(|x| x == c);
            if has("memory") && has("pids") {
                return Ok(Hierarchy::V2 { base: own_dir.join(format!("codebox-{pid}")) });
            }
        }
        match (v1.get("memory"), v1.get("pids")) {
            (Some(mem), Some(pids)) => {
                let under = |mount: &Mount, ctrl: &str| {
                    mount.dir_of(&own_path(Some(ctrl)).unwrap_or_default()).join(format!("codebox-{pid}"))
                };
                Ok(Hierarchy::V1 {
                    memory: under(mem, "memory"),
                    pids: under(pids, "pids"),
                    cpu: v1.get("cpu").map(|c| under(c, "cpu")),
                })
            }
            _ if v2_mount.is_some() => {
                Err("cgroup v2 is mounted but its memory and pids controllers are not available to codebox's cgroup \
(run codebox as root, or in a delegated subtree: systemd-run --user --scope -p Delegate=yes codebox serve)"
                    .into())
            }
            _ => Err("no cgroup hierarchy with the memory and pids controllers is mounted".into()),
        }
    }

    /// The directories of codebox's subtree (one per hierarchy).
    fn bases(&self) -> Vec<&PathBuf> {
        match self {
            Hierarchy::V2 { base } => vec![base],
            Hierarchy::V1 { memory, pids, cpu } => {
                [Some(memory), Some(pids), cpu.as_ref()].into_iter().flatten().collect()
            }
        }
    }

    /// Removes the subtrees of codebox processes that died without cleaning up (SIGKILL).
    fn sweep(&self) {
        for base in self.bases() {
            let Some(parent) = base.parent() else { continue };
            let Ok(entries) = std::fs::read_dir(parent) else { continue };
            for e in entries.flatten() {
                let name = e.file_name();
                let Some(pid) =
                    name.to_str().and_then(|n| n.strip_prefix("codebox-")).and_then(|p| p.parse::<i32>().ok())
                else {
                    continue;
                };
                if !crate::workspace::write::process_is_gone(pid) {
                    continue;
                }
                if let Ok(runs) = std::fs::read_dir(e.path()) {
                    for r in runs.flatten().filter(|r| r.path().is_dir()) {
                        let _ = std::fs::remove_dir(r.path());
                    }
                }
                let _ = std::fs::remove_dir(e.path());
            }
        }
    }

    /// Creates codebox's subtree (and on v2 enables the controllers for the groups below it).
    fn prepare(&self) -> Result<(), String> {
        self.sweep();
        let mk = |d: &Path| match std::fs::create_dir(d) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(format!("cannot create {}: {e}", d.display())),
        };
        match self {
            Hierarchy::V2 { base } => {
                mk(base)?;
                let available = std::fs::read_to_string(base.join("cgroup.controllers")).unwrap_or_default();
                let want: Vec<String> = ["memory", "pids", "cpu"]
                    .iter()
                    .filter(|c| available.split_whitespace().any(|x| x == **c))
                    .map(|c| format!("+{c}"))
                    .collect();
                std::fs::write(base.join("cgroup.subtree_control"), want.join(" "))
                    .map_err(|e| format!("cannot enable controllers in {}: {e}", base.display()))
            }
            Hierarchy::V1 { memory, pids, cpu } => {
                mk(memory)?;
                mk(pids)?;
                if let Some(c) = cpu {
                    mk(c)?;
                }
                Ok(())
            }
        }
    }

    /// A group for one run, with its limits written.
    pub(crate) fn create(&self, name: &str, limits: &Limits) -> Result<RunGroup, String> {
        let write = |d: &Path, file: &str, value: String| {
            std::fs::write(d.join(file), &value).map_err(|e| format!("cannot set {file} = {value}: {e}"))
        };
        let make = |d: &Path| std::fs::create_dir(d).map_err(|e| format!("cannot create {}: {e}", d.display()));
        match self {
            Hierarchy::V2 { base } => {
                let d = base.join(name);
                make(&d)?;
                let g = RunGroup { procs: vec![d.join("cgroup.procs")], dirs: vec![d.clone()], v2: true };
                write(&d, "memory.max", limits.memory_bytes.to_string())?;
                // Swap off: the memory limit is the whole story.
                let _ = write(&d, "memory.swap.max", "0".into());
                write(&d, "pids.max", limits.processes.to_string())?;
                if let Some(c) = limits.cpus {
                    let _ = write(&d, "cpu.max", format!("{} {CPU_PERIOD_US}", (c * CPU_PERIOD_US as f64) as u64));
                }
                Ok(g)
            }
            Hierarchy::V1 { memory, pids, cpu } => {
                let mut g = RunGroup { dirs: Vec::new(), procs: Vec::new(), v2: false };
                let m = memory.join(name);
                make(&m)?;
                g.dirs.push(m.clone());
                g.procs.push(m.join("cgroup.procs"));
                write(&m, "memory.limit_in_bytes", limits.memory_bytes.to_string())?;
                // Swap off: memory+swap limited to the same amount (where the kernel accounts swap).
                let _ = write(&m, "memory.memsw.limit_in_bytes", limits.memory_bytes.to_string());
                let _ = write(&m, "memory.swappiness", "0".into());
                let p = pids.join(name);
                make(&p)?;
                g.dirs.push(p.clone());
                g.procs.push(p.join("cgroup.procs"));
                write(&p, "pids.max", limits.processes.to_string())?;
                if let (Some(cpu), Some(c)) = (cpu, limits.cpus) {
                    let d = cpu.join(name);
                    make(&d)?;
                    g.dirs.push(d.clone());
                    g.procs.push(d.join("cgroup.procs"));
                    write(&d, "cpu.cfs_period_us", CPU_PERIOD_US.to_string())?;
                    write(&d, "cpu.cfs_quota_us", ((c * CPU_PERIOD_US as f64) as u64).to_string())?;
                }
                Ok(g)
            }
        }
    }

    /// One line for results and doctor.
    pub(crate) fn describe(&self) -> String {
        match self {
            Hierarchy::V2 { base } => format!("cgroup v2 under {}", base.display()),
            Hierarchy::V1 { memory, .. } => format!("cgroup v1 (memory, pids, cpu) under {}", memory.display()),
        }
    }

    /// Removes codebox's subtree (at exit; groups of runs still alive are skipped).
    pub(crate) fn remove_base(&self) {
        for d in self.bases() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

impl RunGroup {
    /// Kills whatever is still in the group, reads what the kernel reported, and removes the group.
    pub(crate) fn finish(self) -> Events {
        let mut ev = Events::default();
        for d in &self.dirs {
            let read = |f: &str| std::fs::read_to_string(d.join(f)).unwrap_or_default();
            if self.v2 {
                ev.oom_kills += counter(&read("memory.events"), "oom_kill");
                ev.pids_max_hits += counter(&read("pids.events"), "max");
                let _ = std::fs::write(d.join("cgroup.kill"), "1");
            } else {
                ev.oom_kills += counter(&read("memory.oom_control"), "oom_kill");
                ev.pids_max_hits += counter(&read("pids.events"), "max");
                for pid in read("cgroup.procs").lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                }
            }
        }
        for d in &self.dirs {
            // A group empties a moment after its last process is reaped; a few tries cover that.
            for _ in 0..50 {
                match std::fs::remove_dir(d) {
                    Ok(()) => break,
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => std::thread::yield_now(),
                    Err(_) => break,
                }
            }
        }
        ev
    }
}

/// `key N` from a flat-keyed cgroup file.
fn counter(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_MOUNTS: &str = "30 25 0:26 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
31 25 0:27 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
32 25 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 25 0:29 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const V2_MOUNTS: &str = "30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";

    #[test]
    fn v1_is_chosen_when_v2_has_no_controllers_and_runs_go_under_codebox_s_own_groups() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("sys/fs/cgroup/unified")).unwrap();
        let own = "4:memory:/box/a\n8:pids:/\n1:cpu:/\n0::/\n";
        let h = Hierarchy::from_tables(V1_MOUNTS, own, root.path()).unwrap();
        let pid = std::process::id();
        assert_eq!(
            h,
            Hierarchy::V1 {
                memory: root.path().join(format!("sys/fs/cgroup/memory/box/a/codebox-{pid}")),
                pids: root.path().join(format!("sys/fs/cgroup/pids/codebox-{pid}")),
                cpu: Some(root.path().join(format!("sys/fs/cgroup/cpu/codebox-{pid}"))),
            }
        );
    }

    /// v2 against a fake cgroupfs tree: the controllers are enabled for the subtree, a run's group gets its
    /// limits, its events are read and the group removed.
    #[test]
    fn v2_groups_get_limits_and_report_events() {
        let root = tempfile::tempdir().unwrap();
        let own_dir = root.path().join("sys/fs/cgroup/user.slice/app");
        std::fs::create_dir_all(&own_dir).unwrap();
        std::fs::write(own_dir.join("cgroup.controllers"), "cpuset cpu io memory pids\n").unwrap();
        let h = Hierarchy::from_tables(V2_MOUNTS, "0::/user.slice/app\n", root.path()).unwrap();
        let Hierarchy::V2 { base } = &h else { panic!("{h:?}") };
        assert_eq!(base, &own_dir.join(format!("codebox-{}", std::process::id())));
        std::fs::create_dir_all(base).unwrap();
        std::fs::write(base.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        h.prepare().unwrap();
        assert_eq!(std::fs::read_to_string(base.join("cgroup.subtree_control")).unwrap(), "+memory +pids +cpu");
        let g = h.create("run-1", &Limits { memory_bytes: 1 << 30, processes: 64, cpus: Some(1.5) }).unwrap();
        let d = base.join("run-1");
        assert_eq!(std::fs::read_to_string(d.join("memory.max")).unwrap(), "1073741824");
        assert_eq!(std::fs::read_to_string(d.join("memory.swap.max")).unwrap(), "0");
        assert_eq!(std::fs::read_to_string(d.join("pids.max")).unwrap(), "64");
        assert_eq!(std::fs::read_to_string(d.join("cpu.max")).unwrap(), "150000 100000");
        assert_eq!(g.procs, vec![d.join("cgroup.procs")]);
        std::fs::write(d.join("memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n").unwrap();
        std::fs::write(d.join("pids.events"), "max 7\n").unwrap();
        let ev = g.finish();
        assert_eq!(ev, Events { oom_kills: 1, pids_max_hits: 7 });
        assert_eq!(std::fs::read_to_string(d.join("cgroup.kill")).unwrap(), "1", "every process killed");
    }

    /// A container without a cgroup namespace: each v1 hierarchy is mounted from the container's own cgroup
    /// (mountinfo's root field), which /proc/self/cgroup names in full; the group goes at the mount point, not
    /// under a path that repeats the container's.
    #[test]
    fn a_mount_of_a_subtree_is_not_joined_twice() {
        let root = tempfile::tempdir().unwrap();
        let mounts = "30 25 0:26 /docker/abc /sys/fs/cgroup/memory ro,relatime - cgroup cgroup rw,memory
31 25 0:27 /docker/abc /sys/fs/cgroup/pids ro,relatime - cgroup cgroup rw,pids
";
        let own = "4:memory:/docker/abc\n8:pids:/docker/abc/inner\n";
        let h = Hierarchy::from_tables(mounts, own, root.path()).unwrap();
        let pid = std::process::id();
        assert_eq!(
            h,
            Hierarchy::V1 {
                memory: root.path().join(format!("sys/fs/cgroup/memory/codebox-{pid}")),
                pids: root.path().join(format!("sys/fs/cgroup/pids/inner/codebox-{pid}")),
                cpu: None,
            }
        );
    }

    #[test]
    fn without_usable_controllers_the_reason_is_given() {
        let root = tempfile::tempdir().unwrap();
        let e = Hierarchy::from_tables(V2_MOUNTS, "0::/\n", root.path()).unwrap_err();
        assert!(e.contains("Delegate=yes"), "{e}");
        assert!(Hierarchy::from_tables("", "", root.path()).unwrap_err().contains("no cgroup hierarchy"));
    }
}
