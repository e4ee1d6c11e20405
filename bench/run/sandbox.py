"""The sandbox a model's process enters before any model code runs.

Model code comes from strangers. Before the worker (``bench.run.worker``) imports it, the worker
locks itself in with mechanisms an unprivileged Linux user can rely on:

- **Landlock** (Linux >= 5.13, no root needed): the process and everything it starts may
  *write* only inside its scratch folder, and may not *read* the hidden paths of
  :class:`Policy` (the results folders and their ledger, the data cache, the repository's git
  history, the other cells' scratch folders, package data such as aeon's bundled archives).
  Where the kernel allows (Landlock ABI >= 4, >= 6) it also may not open TCP connections,
  signal processes outside its sandbox (the harness, other cells) or reach abstract Unix
  sockets. Landlock also forbids ptrace of processes outside the sandbox, so the parent's
  memory (where secret test seeds live) is out of reach.
- **an unprivileged uid** when the harness runs as root (root could otherwise ignore file
  permissions and leave the sandbox's reach through capabilities): ``nobody``.
- ``no_new_privs``: nothing it executes gains privileges (setuid binaries).

Containment (every process model code starts dies with its cell, and counts against its memory
limit) is the keeper's job: ``bench.run.keeper``.

Where Landlock is missing, :func:`enter` enforces what it can and reports ``enforced: False``
with the reason; the result records it and the leaderboard never ranks such a submission's
result.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import pwd
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Landlock's syscalls (the same numbers on every architecture) and flags: linux/landlock.h
_CREATE, _ADD_RULE, _RESTRICT = 444, 445, 446
_VERSION_FLAG = 1
_RULE_PATH_BENEATH = 1
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE = 1 << 13, 1 << 14  # ABI 2, 3
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6
_PR_SET_NO_NEW_PRIVS = 38

READ = READ_FILE | READ_DIR | EXECUTE
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE  # the rights a rule on a file may hold

# Package data that holds public test labels (aeon ships the UCR/UEA archives).
PACKAGE_DATA = {"aeon": "datasets/data", "sktime": "datasets/data"}
NOBODY = "nobody"
# The device files a model's process may open: no disks or memory, which root-owned
# processes could otherwise read raw; GPUs need theirs.
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
           "/dev/pts", "/dev/nvidia*", "/dev/nvidia-caps", "/dev/dri")


def devices() -> list[str]:
    import glob

    return sorted({p for pattern in DEVICES for p in glob.glob(pattern)})


@dataclass(frozen=True)
class Policy:
    """What the model's process may touch: ``scratch`` (and ``writable``: its own compile
    cache) read-write, ``hidden`` not at all, every other path read-only."""
    scratch: str
    hidden: tuple[str, ...] = ()
    writable: tuple[str, ...] = ()
    uid: int = -1  # who to become under root (sandbox_uid()); -1: stay who we are
    network: bool = False


@dataclass
class Enforced:
    """What :func:`enter` put in place; it goes into the result's provenance as ``sandbox``."""
    enforced: bool  # file access confined (Landlock): the guarantee the leaderboard needs
    mechanism: str
    landlock_abi: int = 0
    uid: int = 0
    network_blocked: bool = False
    signals_scoped: bool = False
    reason: str | None = None  # why it is not enforced, or what is missing
    hidden: list[str] = field(default_factory=list)
    capabilities: str = ""  # the effective capability set left (hex, /proc/self/status)

    def record(self) -> dict[str, Any]:
        return asdict(self)


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0: none, or disabled)."""
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(ctypes.c_long(_CREATE), None, ctypes.c_size_t(0),
                       ctypes.c_uint32(_VERSION_FLAG))
    return max(int(abi), 0)


def package_data_paths() -> list[str]:
    """The folders of installed packages that bundle data sets with their test labels."""
    out = []
    for package, sub in PACKAGE_DATA.items():
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            continue
        if spec is not None and spec.origin:
            path = Path(spec.origin).parent / sub
            if path.exists():
                out.append(str(path))
    return out


def _is_below(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def read_rules(hidden: list[str], root: str = "/") -> list[tuple[str, int]]:
    """Rules that make every path readable except ``hidden`` (absolute, resolved paths).

    Landlock grants by hierarchy, so the tree is walked down only along the hidden paths:
    each of their ancestors may be listed (``READ_DIR``), every sibling gets full read access,
    and a hidden path gets none. Symbolic links get no rule: access follows to their target,
    which is judged by its own place in the tree.
    """
    hidden = sorted({os.path.realpath(h) for h in hidden})
    rules: list[tuple[str, int]] = []

    def walk(folder: str) -> None:
        inside = [h for h in hidden if _is_below(h, folder) and h != folder]
        if not inside:
            rules.append((folder, READ))
            return
        rules.append((folder, READ_DIR))
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return
        for entry in entries:
            path = entry.path
            if any(path == h for h in hidden) or entry.is_symlink():
                continue
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir and any(_is_below(h, path) for h in hidden):
                walk(path)
            else:
                rules.append((path, READ if is_dir else READ & _FILE_RIGHTS))

    if any(h == root for h in hidden):
        return []
    walk(root)
    return rules


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _handled_fs(abi: int) -> int:
    rights = (1 << 13) - 1  # EXECUTE .. MAKE_SYM
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    return rights


def _landlock(policy: Policy, abi: int) -> tuple[bool, bool]:
    """Build the ruleset for ``policy`` and restrict this process (and all it starts).
    Returns (network blocked, signals scoped)."""
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    handled = _handled_fs(abi)
    attr = _RulesetAttr(handled, (NET_BIND_TCP | NET_CONNECT_TCP)
                        if abi >= 4 and not policy.network else 0,
                        (SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    fd = libc.syscall(ctypes.c_long(_CREATE), ctypes.byref(attr), ctypes.c_size_t(size),
                      ctypes.c_uint32(0))
    if fd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    rules = read_rules([*policy.hidden, "/dev"])  # devices: only the harmless ones, below
    dev_rights = READ_FILE | WRITE_FILE | (TRUNCATE if abi >= 3 else 0)
    rules.append(("/dev", READ_DIR))
    rules += [(d, dev_rights | (READ_DIR if os.path.isdir(d) else 0)) for d in devices()]
    rules += [(folder, handled) for folder in (policy.scratch, *policy.writable)]
    try:
        for path, rights in rules:
            try:
                target = os.open(path, os.O_PATH | os.O_CLOEXEC | os.O_NOFOLLOW)
            except OSError:
                continue  # vanished while we walked: nothing to grant
            try:
                if not os.path.isdir(path):
                    rights &= _FILE_RIGHTS
                rule = _PathBeneath(rights & handled, target)
                if libc.syscall(ctypes.c_long(_ADD_RULE), ctypes.c_int(fd),
                                ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(rule),
                                ctypes.c_uint32(0)) < 0:
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
            finally:
                os.close(target)
        _drop_privileges(policy.uid)
        if libc.syscall(ctypes.c_long(_RESTRICT), ctypes.c_int(fd), ctypes.c_uint32(0)) < 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(fd)
    return abi >= 4 and not policy.network, abi >= 6


_PR_CAPBSET_DROP, _PR_SET_SECUREBITS, _PR_CAP_AMBIENT, _AMBIENT_CLEAR_ALL = 24, 28, 47, 4
# SECBIT_NOROOT, NO_SETUID_FIXUP, NO_CAP_AMBIENT_RAISE and every lock: exec never restores root
_SECUREBITS = 0b11101111


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _drop_capabilities() -> None:
    """Stay uid 0 but give up every capability, for good (bounding set, ambient set, secure
    bits): the process keeps only what file ownership grants, which Landlock confines."""
    libc = _libc()
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    for cap in range(last + 1):
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
    libc.prctl(_PR_CAP_AMBIENT, _AMBIENT_CLEAR_ALL, 0, 0, 0)
    if libc.prctl(_PR_SET_SECUREBITS, _SECUREBITS, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECUREBITS) failed")
    data = (_CapData * 2)()
    if libc.capset(ctypes.byref(_CapHeader(0x20080522, 0)), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def _drop_privileges(uid: int) -> None:
    """As root: become ``uid`` (``nobody``), or where that uid cannot run the interpreter,
    stay uid 0 without any capability; always: no new privileges through exec."""
    if os.getuid() == 0:
        if uid in (0, -1):
            _drop_capabilities()
        else:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
    if _libc().prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@functools.cache  # asked for every child's scratch folders; the answer cannot change
def _interpreter_readable_by_others() -> bool:
    """Whether another uid can run this interpreter and import its packages: every folder
    above them searchable, by the permission bits."""
    import sys
    import sysconfig

    paths = {sys.executable, sys.base_prefix, sys.prefix,
             sysconfig.get_paths()["purelib"], sysconfig.get_paths()["stdlib"]}
    for path in paths:
        p = Path(os.path.realpath(path))
        for folder in [p, *p.parents]:
            try:
                mode = folder.stat().st_mode
            except OSError:
                return False
            if folder.is_dir() and not mode & 0o001:
                return False
    return True


def sandbox_uid() -> int:
    """The uid the model's process runs as: under root ``nobody`` (uid 0 without capabilities
    where ``nobody`` cannot run this interpreter), else this process's."""
    if os.getuid() != 0:
        return os.getuid()
    if not _interpreter_readable_by_others():
        return 0
    return pwd.getpwnam(NOBODY).pw_uid if _has_user(NOBODY) else 65534


def prepare_scratch(scratch: Path) -> None:
    """Give the scratch folder to the uid the model's process will run as."""
    uid = sandbox_uid()
    if uid != os.getuid():
        os.chown(scratch, uid, uid)


def _capabilities() -> str:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return line.split()[1]
    return ""


def enter(policy: Policy) -> Enforced:
    """Confine this process as ``policy`` says; irreversible. Call before model code runs."""
    abi = landlock_abi()
    if abi < 1:
        _drop_privileges(policy.uid)
        return Enforced(False, "none", 0, os.getuid(), reason="Landlock is not available on "
                        "this kernel (Linux >= 5.13 with landlock among its LSMs): model code "
                        "could read and write any file this user can", hidden=list(policy.hidden),
                        capabilities=_capabilities())
    network, signals = _landlock(policy, abi)
    return Enforced(True, "landlock", abi, os.getuid(), network, signals,
                    None if signals else "this kernel's Landlock cannot scope signals "
                    "(ABI < 6): the model's process may signal the harness",
                    hidden=list(policy.hidden), capabilities=_capabilities())
