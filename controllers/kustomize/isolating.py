"""Run a program that cannot open network sockets: ``python isolating.py PROGRAM ARGS…``.

Contract: the process installs a seccomp filter (no privileges needed: it
sets ``no_new_privs`` first) under which ``socket()`` fails with EACCES for
every address family but ``AF_UNIX``, ``io_uring_setup`` fails (io_uring can
open sockets too) and system calls of a foreign ABI fail; then it ``exec``s
PROGRAM. The filter is inherited by every child (kustomize's ``git``), so
nothing the program starts reaches the network — not even 127.0.0.1, which
Go's HTTP client never sends through a proxy. When the filter cannot be
installed (an unknown CPU, seccomp unavailable) it exits with
``EXIT_UNISOLATED`` and says why on stderr: the caller fails closed.

This file is run as a script by path with ``python -I -S``: it imports the
standard library only.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import sys

EXIT_UNISOLATED = 126

# (AUDIT_ARCH_*, __NR_socket, __NR_io_uring_setup) per machine.
_ARCHES = {
    "x86_64": (0xC000003E, 41, 425),
    "aarch64": (0xC00000B7, 198, 425),
}
_X32_SYSCALL_BIT = 0x40000000
_AF_UNIX = 1
_EACCES = 13

# Classic BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
_LOAD_WORD = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JUMP_EQUAL = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JUMP_GREATER_EQUAL = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_RETURN = 0x06  # BPF_RET | BPF_K
_ALLOW = 0x7FFF0000
_DENY = 0x00050000 | _EACCES  # SECCOMP_RET_ERRNO
# Offsets in struct seccomp_data: nr, arch, then args[] (low word first: little-endian).
_NR, _ARCH, _ARG0 = 0, 4, 16

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2


def _instruction(code: int, jump_true: int, jump_false: int, value: int) -> bytes:
    return struct.pack("HBBI", code, jump_true, jump_false, value)


def program(machine: str) -> list[bytes]:
    """The seccomp filter for ``machine`` (``platform.machine()``), one instruction each."""
    arch, socket, io_uring_setup = _ARCHES[machine]
    x32 = machine == "x86_64"
    return [
        _instruction(_LOAD_WORD, 0, 0, _ARCH),
        _instruction(_JUMP_EQUAL, 1, 0, arch),
        _instruction(_RETURN, 0, 0, _DENY),
        _instruction(_LOAD_WORD, 0, 0, _NR),
        # x86_64 also accepts x32-ABI numbers (bit 30 set): refuse them all.
        _instruction(_JUMP_GREATER_EQUAL, 0, 1, _X32_SYSCALL_BIT if x32 else 0xFFFFFFFF),
        _instruction(_RETURN, 0, 0, _DENY),
        _instruction(_JUMP_EQUAL, 0, 1, io_uring_setup),
        _instruction(_RETURN, 0, 0, _DENY),
        _instruction(_JUMP_EQUAL, 1, 0, socket),
        _instruction(_RETURN, 0, 0, _ALLOW),
        _instruction(_LOAD_WORD, 0, 0, _ARG0),
        _instruction(_JUMP_EQUAL, 0, 1, _AF_UNIX),
        _instruction(_RETURN, 0, 0, _ALLOW),
        _instruction(_RETURN, 0, 0, _DENY),
    ]


class _Program(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def isolate() -> None:
    """Install the filter in this process; ``OSError`` when it cannot."""
    machine = platform.machine()
    if machine not in _ARCHES:
        raise OSError(f"no seccomp filter for machine '{machine}'")
    instructions = program(machine)
    code = ctypes.create_string_buffer(b"".join(instructions))
    fprog = _Program(len(instructions), ctypes.addressof(code))
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl
    prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong)
    if prctl(_PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")


def main(argv: list[str]) -> None:
    if not argv:
        sys.stderr.write("usage: isolating.py PROGRAM [ARGS...]\n")
        sys.exit(2)
    try:
        isolate()
    except OSError as err:
        sys.stderr.write(f"cannot cut the build off from the network: {err}\n")
        sys.exit(EXIT_UNISOLATED)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
