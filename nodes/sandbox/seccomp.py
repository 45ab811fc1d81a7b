"""A seccomp-BPF deny list for the sandboxed child, built by hand (no library).

bubblewrap loads it (`--seccomp FD`) just before it execs the child. The namespaces
already remove the network and the filesystem; this removes the kernel surface a child
could use to climb out: ptrace, mounts, new namespaces, keyrings, BPF, io_uring, modules,
and to watch the host: inotify, fanotify.
Only x86_64 is described; on other machines `build_filter` returns None and the
namespaces and rlimits stand alone.
"""

from __future__ import annotations

import errno
import platform
import struct

AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000

_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06

RET_ALLOW = 0x7FFF0000
RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000

_OFFSET_NR = 0
_OFFSET_ARCH = 4
_OFFSET_ARG0_LOW = 16  # struct seccomp_data: nr, arch, instruction_pointer, args[6]; little endian

# Namespace flags of clone(2): CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET.
CLONE_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

X86_64_CLONE = 56
X86_64_CLONE3 = 435
X86_64_DENIED = {
    "socket": 41,
    "ptrace": 101,
    "syslog": 103,
    "personality": 135,
    "vhangup": 153,
    "pivot_root": 155,
    "adjtimex": 159,
    "chroot": 161,
    "acct": 163,
    "settimeofday": 164,
    "mount": 165,
    "umount2": 166,
    "swapon": 167,
    "swapoff": 168,
    "reboot": 169,
    "iopl": 172,
    "ioperm": 173,
    "init_module": 175,
    "delete_module": 176,
    "quotactl": 179,
    "clock_settime": 227,
    "kexec_load": 246,
    "add_key": 248,
    # Watches would tell a child when the host opens or writes what it can see (files shared with
    # the host, a library a host program loads): no inotify or fanotify at all.
    "inotify_init": 253,
    "inotify_add_watch": 254,
    "inotify_init1": 294,
    "fanotify_init": 300,
    "fanotify_mark": 301,
    "request_key": 249,
    "keyctl": 250,
    "unshare": 272,
    "perf_event_open": 298,
    "name_to_handle_at": 303,
    "open_by_handle_at": 304,
    "clock_adjtime": 305,
    "setns": 308,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "finit_module": 313,
    "kexec_file_load": 320,
    "bpf": 321,
    "userfaultfd": 323,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
}


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def ret_errno(number: int) -> int:
    return _RET_ERRNO | (number & 0xFFFF)


def build_x86_64_filter() -> bytes:
    """The filter program as packed `struct sock_filter` records."""
    eperm = ret_errno(errno.EPERM)
    program = [
        _insn(_LD_W_ABS, _OFFSET_ARCH),
        _insn(_JEQ_K, AUDIT_ARCH_X86_64, jt=1, jf=0),
        _insn(_RET_K, RET_KILL_PROCESS),  # a foreign syscall ABI (i386 via int 0x80) is never allowed
        _insn(_LD_W_ABS, _OFFSET_NR),
        _insn(_JGE_K, _X32_SYSCALL_BIT, jt=0, jf=1),
        _insn(_RET_K, eperm),
        # clone3 passes its flags in memory the filter cannot read; ENOSYS makes libc fall back to clone.
        _insn(_JEQ_K, X86_64_CLONE3, jt=0, jf=1),
        _insn(_RET_K, ret_errno(errno.ENOSYS)),
    ]
    for number in sorted(X86_64_DENIED.values()):
        program += [_insn(_JEQ_K, number, jt=0, jf=1), _insn(_RET_K, eperm)]
    program += [
        _insn(_JEQ_K, X86_64_CLONE, jt=0, jf=3),
        _insn(_LD_W_ABS, _OFFSET_ARG0_LOW),
        _insn(_JSET_K, CLONE_NAMESPACE_FLAGS, jt=0, jf=1),
        _insn(_RET_K, eperm),
        _insn(_RET_K, RET_ALLOW),
    ]
    assert len(program) < 4096, "BPF programs are limited to 4096 instructions"
    return b"".join(program)


def build_filter() -> bytes | None:
    """The filter for this machine, or None where no syscall table is described."""
    return build_x86_64_filter() if platform.machine() == "x86_64" else None
