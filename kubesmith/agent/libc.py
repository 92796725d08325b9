"""The one ctypes binding of libc's mount(2) and umount2(2) that the agent's runtime,
image store and volume manager share: the syscalls are quick kernel calls, cheaper than
running the ``mount`` binary per container or volume. Callers read ``ctypes.get_errno()``
after a non-zero result."""

from __future__ import annotations

import ctypes

MNT_DETACH = 0x2

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                       ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
