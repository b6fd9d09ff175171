//! The system-call filter every sandboxed command runs under: what it denies and why. Built and applied in the
//! sandbox's init process just before exec; a denied call fails with an errno, so programs see an error, not a kill.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen as Len, SeccompCmpOp as Op, SeccompCondition as Cond, SeccompFilter,
    SeccompRule, TargetArch,
};

/// Calls that let a command inspect or modify other processes, change what the filesystem looks like, load code
/// into the kernel, or escape into a new namespace. None of them is needed to build or test software.
const DENIED: &[(&str, i64)] = &[
    ("ptrace", libc::SYS_ptrace),
    ("process_vm_readv", libc::SYS_process_vm_readv),
    ("process_vm_writev", libc::SYS_process_vm_writev),
    ("io_uring_setup", libc::SYS_io_uring_setup),
    ("io_uring_enter", libc::SYS_io_uring_enter),
    ("io_uring_register", libc::SYS_io_uring_register),
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("move_mount", libc::SYS_move_mount),
    ("open_tree", libc::SYS_open_tree),
    ("fsopen", libc::SYS_fsopen),
    ("fsconfig", libc::SYS_fsconfig),
    ("fsmount", libc::SYS_fsmount),
    ("fspick", libc::SYS_fspick),
    ("mount_setattr", libc::SYS_mount_setattr),
    ("pivot_root", libc::SYS_pivot_root),
    ("chroot", libc::SYS_chroot),
    ("kexec_load", libc::SYS_kexec_load),
    ("kexec_file_load", libc::SYS_kexec_file_load),
    ("bpf", libc::SYS_bpf),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("keyctl", libc::SYS_keyctl),
    ("add_key", libc::SYS_add_key),
    ("request_key", libc::SYS_request_key),
    ("userfaultfd", libc::SYS_userfaultfd),
    ("unshare", libc::SYS_unshare),
    ("setns", libc::SYS_setns),
    ("init_module", libc::SYS_init_module),
    ("finit_module", libc::SYS_finit_module),
    ("delete_module", libc::SYS_delete_module),
    ("swapon", libc::SYS_swapon),
    ("swapoff", libc::SYS_swapoff),
    ("reboot", libc::SYS_reboot),
    ("acct", libc::SYS_acct),
    ("open_by_handle_at", libc::SYS_open_by_handle_at),
    ("name_to_handle_at", libc::SYS_name_to_handle_at),
];

/// Namespace flags a nested clone() may not ask for (a new user namespace would hand back capabilities).
const CLONE_NS_FLAGS: &[u64] = &[
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWCGROUP as u64,
];

/// Socket families a command keeps with the network off: local sockets, and IP inside its own network namespace
/// (loopback only, and TCP there is also closed by landlock). Netlink, packet, vsock and the rest are refused.
const ALLOWED_FAMILIES_OFFLINE: &[u64] = &[libc::AF_UNIX as u64, libc::AF_INET as u64, libc::AF_INET6 as u64];
/// With the network on, netlink stays allowed too: glibc's getaddrinfo asks it which address families exist.
const ALLOWED_FAMILIES_ONLINE: &[u64] =
    &[libc::AF_UNIX as u64, libc::AF_INET as u64, libc::AF_INET6 as u64, libc::AF_NETLINK as u64];

/// Terminal ioctls that inject input into, or reconfigure, the controlling terminal (TIOCSTI typing attacks).
const DENIED_IOCTLS: &[u64] = &[libc::TIOCSTI, libc::TIOCLINUX];

fn arch() -> TargetArch {
    if cfg!(target_arch = "aarch64") { TargetArch::aarch64 } else { TargetArch::x86_64 }
}

fn rule(conds: Vec<Cond>) -> SeccompRule {
    SeccompRule::new(conds).expect("static seccomp rule is valid")
}

fn cond(arg: u8, op: Op, value: u64) -> Cond {
    Cond::new(arg, Len::Dword, op, value).expect("static seccomp condition is valid")
}

/// The filter for a command. `network`: whether the command has the host network.
pub(crate) fn filter(network: bool) -> Result<BpfProgram, String> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for (_, nr) in DENIED {
        rules.insert(*nr, vec![]);
    }
    // The filter sees only the top-level flags of clone3 (behind a pointer), so clone3 answers ENOSYS and libc
    // falls back to clone, whose flags the filter can read.
    let mut nested_ns = Vec::new();
    for flag in CLONE_NS_FLAGS {
        nested_ns.push(rule(vec![Cond::new(0, Len::Qword, Op::MaskedEq(*flag), *flag).map_err(|e| e.to_string())?]));
    }
    rules.insert(libc::SYS_clone, nested_ns);
    let families = if network { ALLOWED_FAMILIES_ONLINE } else { ALLOWED_FAMILIES_OFFLINE };
    let not_allowed: Vec<Cond> = families.iter().map(|f| cond(0, Op::Ne, *f)).collect();
    // Raw sockets craft arbitrary packets (ICMP, spoofing): refused whatever the family.
    let raw = vec![cond(1, Op::MaskedEq(0xf), libc::SOCK_RAW as u64)];
    // SOCK_PACKET (10): the obsolete packet-socket type, still accepted by the kernel for AF_INET.
    let packet = vec![cond(1, Op::MaskedEq(0xf), 10)];
    rules.insert(libc::SYS_socket, vec![rule(not_allowed.clone()), rule(raw), rule(packet)]);
    rules.insert(libc::SYS_socketpair, vec![rule(not_allowed)]);
    rules.insert(libc::SYS_ioctl, DENIED_IOCTLS.iter().map(|op| rule(vec![cond(1, Op::Eq, *op)])).collect());

    let f = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch())
        .map_err(|e| format!("seccomp filter: {e}"))?;
    let mut prog: BpfProgram = f.try_into().map_err(|e: seccompiler::BackendError| format!("seccomp filter: {e}"))?;
    // seccompiler kills on a foreign architecture (32-bit `int 0x80` entry). The x32 ABI shares x86_64's
    // architecture value and marks calls with bit 30 instead: answer those ENOSYS. Inserted right after the
    // architecture check (3 instructions), before any relative jump, so no offset changes.
    if cfg!(target_arch = "x86_64") {
        const X32_SYSCALL_BIT: u32 = 0x4000_0000;
        let deny_x32 = [
            bpf_stmt((libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16, 0),
            bpf_jump((libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16, X32_SYSCALL_BIT, 0, 1),
            bpf_stmt((libc::BPF_RET | libc::BPF_K) as u16, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        ];
        for (i, ins) in deny_x32.into_iter().enumerate() {
            prog.insert(3 + i, ins);
        }
    }
    // clone3: ENOSYS, prepended the same way.
    let clone3 = [
        bpf_stmt((libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16, 0),
        bpf_jump((libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16, libc::SYS_clone3 as u32, 0, 1),
        bpf_stmt((libc::BPF_RET | libc::BPF_K) as u16, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
    ];
    for (i, ins) in clone3.into_iter().enumerate() {
        prog.insert(3 + i, ins);
    }
    Ok(prog)
}

fn bpf_stmt(code: u16, k: u32) -> seccompiler::sock_filter {
    seccompiler::sock_filter { code, jt: 0, jf: 0, k }
}

fn bpf_jump(code: u16, k: u32, jt: u8, jf: u8) -> seccompiler::sock_filter {
    seccompiler::sock_filter { code, jt, jf, k }
}

/// Names of what the filter denies, for reports.
pub(crate) fn summary(network: bool) -> String {
    format!(
        "{} calls denied (ptrace, mount, io_uring, bpf, unshare, …), TIOCSTI, {}; 32-bit and x32 entry refused",
        DENIED.len() + 2,
        if network { "netlink allowed" } else { "socket families other than unix/inet refused, raw sockets refused" }
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn filter_builds_for_both_network_settings() {
        assert!(super::filter(false).unwrap().len() > 40);
        assert!(super::filter(true).is_ok());
    }
}
