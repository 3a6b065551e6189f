"""``bcc.containers``: the C filter BCC tools add for ``--cgroupmap`` / ``--mntnsmap``.

:func:`filter_by_containers` returns C text defining
``container_should_be_filtered()``: true for events of tasks outside the
cgroups (or mount namespaces) listed in a pinned hash map the user prepared,
always false when neither option is given.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

__all__ = ["filter_by_containers"]

_NO_CGROUP = """
static inline int _cgroup_filter() {
    return 0;
}
"""

_CGROUP = """
BPF_TABLE_PINNED("hash", u64, u64, cgroupset, 1024, "%s");

static inline int _cgroup_filter() {
    u64 cgroupid = bpf_get_current_cgroup_id();
    return cgroupset.lookup(&cgroupid) == NULL;
}
"""

_NO_MNTNS = """
static inline int _mntns_filter() {
    return 0;
}
"""

# struct mnt_namespace is private to fs/ but in the kernel's BTF, hence in our vmlinux.h:
# no local copy of it is needed (tools that define one guard it with MNT_NAMESPACE_DEFINED).
_MNTNS = """
#define MNT_NAMESPACE_DEFINED

BPF_TABLE_PINNED("hash", u64, u32, mount_ns_set, 1024, "%s");

static inline int _mntns_filter() {
    struct task_struct *current_task = (struct task_struct *)bpf_get_current_task();
    struct nsproxy *nsproxy;
    struct mnt_namespace *mnt_ns;
    unsigned int inum;
    u64 ns_id;

    if (bpf_probe_read_kernel(&nsproxy, sizeof(nsproxy), &current_task->nsproxy))
        return 0;
    if (bpf_probe_read_kernel(&mnt_ns, sizeof(mnt_ns), &nsproxy->mnt_ns))
        return 0;
    if (bpf_probe_read_kernel(&inum, sizeof(inum), &mnt_ns->ns.inum))
        return 0;
    ns_id = (u64)inum;
    return mount_ns_set.lookup(&ns_id) == NULL;
}
"""

_BOTH = """
static inline int container_should_be_filtered() {
    return _cgroup_filter() || _mntns_filter();
}
"""


def filter_by_containers(args: Any) -> str:
    """C text for a tool's ``container_should_be_filtered()`` from its parsed arguments
    (``args.cgroupmap``, ``args.mntnsmap``: paths of pinned maps, or None)."""
    cgroupmap = getattr(args, "cgroupmap", None)
    mntnsmap = getattr(args, "mntnsmap", None)
    return ((_CGROUP % cgroupmap) if cgroupmap else _NO_CGROUP) + \
        ((_MNTNS % mntnsmap) if mntnsmap else _NO_MNTNS) + _BOTH
