"""Reading perf buffers (``BPF_MAP_TYPE_PERF_EVENT_ARRAY``, Linux 4.3+): :class:`PerfBuffer`.

Per online CPU: one ``perf_event_open(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_BPF_OUTPUT,
sample_type=PERF_SAMPLE_RAW)`` event, its ring mmapped (one header page plus
``pages`` data pages), the event fd stored in the map at index ``cpu`` (what
``bpf_perf_event_output(ctx, &map, BPF_F_CURRENT_CPU, ...)`` looks up), and the
fd in one epoll set. Records are ``PERF_RECORD_SAMPLE`` (``u32 size`` + raw data)
and ``PERF_RECORD_LOST`` (``u64 id, u64 lost``); the data area is *not* mapped
twice, so records crossing the end of the ring are reassembled from two pieces.
``data_head`` is read with acquire and ``data_tail`` published with release
semantics (see :mod:`pybpf.events._ring`).

Overwritable rings (``overwrite=True``: ``write_backward``, Linux 4.7+) never
block the producer and never report losses: the newest records overwrite the
oldest. They are read by pausing the output (``PERF_EVENT_IOC_PAUSE_OUTPUT``,
4.7+), walking back from ``data_head`` to what the previous read saw, and
resuming; records are delivered oldest first.
"""

from __future__ import annotations

import mmap as _mmap
import struct
from typing import Any, Callable, Iterable

from .._sys import perf as P
from .._sys.consts import MapType
from .._sys.cpu import online_cpus
from .._sys.mapops import MapOps
from .._sys.syscall import FD, ioctl
from ..errors import BPFError, ClosedError, Error
from ._ring import EpollSet, close_mmap, fence, map_handle, mmap_fd, release, stop_requested, timeout_s

__all__ = ["PerfBuffer"]

MIN_KERNEL = "4.3"
_HEAD, _TAIL = 1024 // 8, 1032 // 8  # data_head / data_tail in struct perf_event_mmap_page, as u64 indexes
_HDR = struct.Struct("<IHH")  # struct perf_event_header: type, misc, size
_U32 = struct.Struct("<I")
_LOST = struct.Struct("<QQ")  # id, lost
_U64_MASK = (1 << 64) - 1

SampleCallback = Callable[[int, memoryview], Any]
LostCallback = Callable[[int, int], Any]


class _CpuBuf:
    __slots__ = ("cpu", "fd", "mm", "views", "q", "data", "size", "mask", "prev_head")

    def __init__(self, cpu: int, fd: FD, mm: _mmap.mmap, pages: int) -> None:
        self.cpu, self.fd, self.mm = cpu, fd, mm
        base = memoryview(mm)
        self.q = base[:_mmap.PAGESIZE].cast("Q")
        self.data = base[_mmap.PAGESIZE:]
        self.views = [self.q, self.data, base]
        self.size = pages * _mmap.PAGESIZE
        self.mask = self.size - 1
        self.prev_head = 0

    def close(self) -> None:
        release(*self.views)
        self.views = []
        close_mmap(self.mm)
        self.fd.close()


class PerfBuffer:
    """Read a ``BPF_MAP_TYPE_PERF_EVENT_ARRAY`` map's per-CPU perf rings (Linux 4.3+).

    ``callback(cpu, memoryview)`` runs per sample (the view is valid only during the
    call; its length is the kernel's raw size, i.e. the program's data padded so
    that ``4 + len`` is a multiple of 8). ``lost(cpu, count)`` runs per
    ``PERF_RECORD_LOST`` (also counted in :attr:`lost_total`). ``pages`` data pages
    per CPU (a power of two); wake up every ``wakeup_events`` samples or, with
    ``watermark``, when that many bytes are pending. ``cpus`` restricts the CPUs
    (default: all online CPUs below the map's max_entries). ``overwrite=True``
    makes the rings overwritable (see the module docs).

    Like in :class:`RingBuffer`, returning ``False`` or a negative int from the
    callback stops the current poll after that sample; delivered samples are
    consumed even if the callback raises. :meth:`close` removes the event fds from
    the map, unmaps and closes everything.
    """

    def __init__(self, map: Any, callback: SampleCallback | None = None, lost: LostCallback | None = None, *,
                 pages: int = 8, wakeup_events: int = 1, watermark: int | None = None, overwrite: bool = False,
                 cpus: Iterable[int] | None = None) -> None:
        if pages <= 0 or pages & (pages - 1):
            raise ValueError("pages must be a power of two")
        self.callback = callback
        self.lost = lost
        self.pages = pages
        self.overwrite = overwrite
        self.lost_total = 0
        self._bufs: list[_CpuBuf] = []
        self._by_fd: dict[int, _CpuBuf] = {}
        self._in_map: list[int] = []
        self._ep: EpollSet | None = None
        self._closed = False
        self._busy = 0
        self._close_pending = False
        self._fd, _t, max_entries, self.map = map_handle(map, (MapType.PERF_EVENT_ARRAY,), "PerfBuffer",
                                                          MIN_KERNEL)
        try:
            self._ops = MapOps(self._fd.fd, 4, 4)
            self._ep = EpollSet()
            want = list(cpus) if cpus is not None else online_cpus()
            for cpu in want:
                if cpu >= max_entries:
                    if cpus is not None:
                        raise Error(f"CPU {cpu} is beyond the map's max_entries ({max_entries})")
                    continue
                self._open_cpu(cpu, wakeup_events, watermark)
            if not self._bufs:
                raise Error("no CPU to open a perf buffer on")
        except BaseException:
            self.close()
            raise

    def _open_cpu(self, cpu: int, wakeup_events: int, watermark: int | None) -> None:
        flags = P.FLAG_WRITE_BACKWARD if self.overwrite else 0
        wake = max(1, wakeup_events)
        if watermark is not None:
            flags |= P.FLAG_WATERMARK
            wake = max(1, watermark)
        attr = P.PerfEventAttr(type=P.PerfType.SOFTWARE, config=P.SwEvent.BPF_OUTPUT, sample_type=P.SAMPLE_RAW,
                               sample_period=1, wakeup_events=wake, flags=flags)
        fd = P.open_event(attr, pid=-1, cpu=cpu)
        try:
            prot = _mmap.PROT_READ if self.overwrite else _mmap.PROT_READ | _mmap.PROT_WRITE
            mm = mmap_fd(fd.fd, (self.pages + 1) * _mmap.PAGESIZE, prot, 0, f"perf buffer of CPU {cpu}", MIN_KERNEL)
        except BaseException:
            fd.close()
            raise
        buf = _CpuBuf(cpu, fd, mm, self.pages)
        self._bufs.append(buf)
        self._by_fd[fd.fd] = buf
        P.enable(fd.fd)
        self._ops.update(cpu.to_bytes(4, "little"), fd.fd.to_bytes(4, "little"), 0)
        self._in_map.append(cpu)
        self._ep.add(fd.fd)  # type: ignore[union-attr]

    # ------------------------------------------------------------ reading
    @property
    def cpus(self) -> list[int]:
        """The CPUs with a perf ring."""
        return [b.cpu for b in self._bufs]

    @property
    def closed(self) -> bool:
        return self._closed

    def fileno(self) -> int:
        """The epoll fd (readable when a ring was woken up)."""
        self._check()
        return self._ep.fileno()  # type: ignore[union-attr]

    def _check(self) -> None:
        if self._closed or self._close_pending:
            raise ClosedError("PerfBuffer is closed")

    def poll(self, timeout_ms: float | None = -1) -> int:
        """Wait up to ``timeout_ms`` (-1/None: forever) for a wakeup, then read the woken
        rings. Returns the number of samples delivered."""
        self._check()
        ready = self._ep.poll(timeout_s(timeout_ms))  # type: ignore[union-attr]
        return self._run([self._by_fd[fd] for fd, _ in ready])

    def consume(self) -> int:
        """Read every ring now (no waiting). Returns the number of samples delivered."""
        self._check()
        return self._run(self._bufs)

    def _run(self, bufs: list[_CpuBuf]) -> int:
        n = 0
        self._busy += 1
        try:
            read = self._read_backward if self.overwrite else self._read
            for b in bufs:
                n += read(b)
        finally:
            self._busy -= 1
            if self._close_pending and not self._busy:
                self.close()
        return n

    def _read(self, b: _CpuBuf) -> int:
        q = b.q
        head = q[_HEAD]
        tail = q[_TAIL]
        if tail >= head:
            return 0
        if fence is not None:
            fence()
        try:
            n, tail, _stop = self._parse(b, tail, head)
        finally:
            if fence is not None:
                fence()
            q[_TAIL] = tail
        return n

    def _parse(self, b: _CpuBuf, pos: int, end: int, into: list[tuple[int, Any]] | None = None
               ) -> tuple[int, int, bool]:
        """Deliver the records in [pos, end); returns (samples, position reached, stopped)."""
        data, size, mask, cpu = b.data, b.size, b.mask, b.cpu
        cb, lost_cb = self.callback, self.lost
        n = 0
        while pos < end:
            off = pos & mask
            typ, _misc, rsz = _HDR.unpack_from(data, off)
            if rsz < 8:
                raise Error(f"corrupt perf ring on CPU {cpu}: record size {rsz}")
            stop = off + rsz
            rec = data[off:stop] if stop <= size else memoryview(bytes(data[off:]) + bytes(data[:stop - size]))
            pos += rsz
            if typ == P.RECORD_SAMPLE:
                raw = _U32.unpack_from(rec, 8)[0]
                if into is not None:
                    into.append((0, bytes(rec[12:12 + raw])))
                    continue
                n += 1
                if cb is not None:
                    ret = cb(cpu, rec[12:12 + raw])
                    if ret is not None and stop_requested(ret):
                        return n, pos, True
            elif typ == P.RECORD_LOST:
                count = _LOST.unpack_from(rec, 8)[1]
                if into is not None:
                    into.append((1, count))
                    continue
                self.lost_total += count
                if lost_cb is not None:
                    lost_cb(cpu, count)
        return n, pos, False

    def _read_backward(self, b: _CpuBuf) -> int:
        """Overwritable ring: pause, collect what was written since the last read, resume."""
        ioctl(b.fd.fd, P.IOC_PAUSE_OUTPUT, 1)
        try:
            head = b.q[_HEAD]
            if fence is not None:
                fence()
            new = (b.prev_head - head) & _U64_MASK  # head moves down
            if not new:
                return 0
            # Walk forward from head over at most one ring (older records were overwritten).
            span = min(new, b.size)
            pos, end = head, head
            data, mask = b.data, b.mask
            while (end - head) & _U64_MASK < span:
                rsz = _HDR.unpack_from(data, end & mask)[2]
                if rsz == 0 or ((end - head) & _U64_MASK) + rsz > span:
                    break
                end = (end + rsz) & _U64_MASK
            items: list[tuple[int, Any]] = []
            # records in [pos, end) are newest first; parse them (positions are modular)
            length = (end - pos) & _U64_MASK
            self._parse(b, pos & mask, (pos & mask) + length, into=items)
            b.prev_head = head
        finally:
            ioctl(b.fd.fd, P.IOC_PAUSE_OUTPUT, 0)
        n = 0
        cb = self.callback
        for kind, val in reversed(items):
            if kind == 0:
                n += 1
                if cb is not None:
                    ret = cb(b.cpu, memoryview(val))
                    if ret is not None and stop_requested(ret):
                        break
            else:  # pragma: no cover - overwritable rings do not report losses
                self.lost_total += val
                if self.lost is not None:
                    self.lost(b.cpu, val)
        return n

    # ----------------------------------------------------- pause / resume
    def pause(self) -> None:
        """Stop the kernel writing to the rings (PERF_EVENT_IOC_PAUSE_OUTPUT, 4.7+); samples
        produced meanwhile are counted as lost and reported after :meth:`resume`."""
        self._pause(1)

    def resume(self) -> None:
        """Let the kernel write to the rings again after :meth:`pause` (PERF_EVENT_IOC_PAUSE_OUTPUT,
        4.7+); the samples dropped while paused are reported to the ``lost`` callback."""
        self._pause(0)

    def _pause(self, on: int) -> None:
        self._check()
        for b in self._bufs:
            try:
                ioctl(b.fd.fd, P.IOC_PAUSE_OUTPUT, on)
            except BPFError as e:
                from ..errors import NotSupportedError

                raise NotSupportedError("PERF_EVENT_IOC_PAUSE_OUTPUT", f"needs Linux 4.7+ ({e})") from None

    # ------------------------------------------------------------ closing
    def close(self) -> None:
        """Remove the event fds from the map, unmap, close fds (deferred while a poll from
        whose callback it was called runs). Idempotent."""
        if self._closed:
            return
        if self._busy:
            self._close_pending = True
            return
        self._closed = True
        try:
            for cpu in self._in_map:
                try:
                    self._ops.delete(cpu.to_bytes(4, "little"))
                except BPFError:
                    pass
            self._in_map = []
        finally:
            for b in self._bufs:
                if self._ep is not None:
                    self._ep.remove(b.fd.fd)
                b.close()
            self._bufs = []
            self._by_fd = {}
            if self._ep is not None:
                self._ep.close()
            self._fd.close()

    def __enter__(self) -> "PerfBuffer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._bufs)} CPU(s), {self.pages} pages each"
        return f"<PerfBuffer {state}>"
