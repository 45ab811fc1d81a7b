"""The CPU group sandboxes run in: below the node's own processes, whatever sessions they start.

A child is niced, but the kernel first shares the CPU among scheduler groups: with
autogroups every session is one (bwrap's --new-session starts one per child), and the nice
of a group's processes does not weigh against other groups. Measured on the local stack
under a burst of jobs, niced sandboxes took half of both cores and the control plane a
third of one. So every child joins one cgroup (v1 cpu controller) weighted as its nice:
together the running sandboxes get what one process of that nice would, and the node's
agent and runner (and, on a shared machine, the control plane) keep the CPU they need.
A child cannot leave the group: its cgroup namespace shows it at the root, and cgroupfs
is not mounted inside.
"""

from __future__ import annotations

import functools
import os
import pathlib

__all__ = ["CPU_CGROUP_ROOT", "GROUP_NAME", "join_argv", "sandbox_cpu_group"]

CPU_CGROUP_ROOT = pathlib.Path("/sys/fs/cgroup/cpu")
GROUP_NAME = "shuniu-sandboxes"
# The kernel's weight of nice 0..19 (sched_prio_to_weight in kernel/sched/core.c).
_NICE_WEIGHT = (1024, 820, 655, 526, 423, 335, 272, 215, 172, 137, 110, 87, 70, 56, 45, 36, 29, 23, 18, 15)


@functools.cache
def sandbox_cpu_group(nice: int, root: pathlib.Path = CPU_CGROUP_ROOT) -> str | None:
    """The cgroup.procs file of the sandboxes' group, weighted as `nice`; None where the runner cannot make one."""
    if os.geteuid() != 0 or not (root / "cpu.shares").exists():
        return None  # no cgroup v1 cpu controller to write: the child's nice is all there is
    group = root / GROUP_NAME
    try:
        group.mkdir(exist_ok=True)
        (group / "cpu.shares").write_text(str(_NICE_WEIGHT[nice]))
    except OSError:
        return None
    return str(group / "cgroup.procs")


def join_argv(nice: int) -> list[str]:
    """A command prefix that moves itself into the group, then execs the rest; empty without a group."""
    procs = sandbox_cpu_group(nice)
    if procs is None:
        return []
    # Fails closed: a child that could not join does not start unthrottled.
    return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', procs]
