"""Program.load checks its arguments before the kernel sees them, and gives up on a load the
verifier keeps abandoning because signals are pending (instead of retrying forever)."""

from __future__ import annotations

import errno
import signal

import pytest

from pybpf import Program, ProgramType, asm
from pybpf.asm import R0
from pybpf.errors import BPFError, Error, VerifierError
from pybpf.spec import ProgramSpec

RET0 = [asm.mov(R0, 0), asm.exit_()]


@pytest.mark.parametrize("bad", ["my-prog", "a b", "tab\\t", "naïve", "x/y"])
def test_invalid_program_name_is_a_clear_error(bad):
    with pytest.raises(Error, match="invalid program name .*letters, digits, '_' and '.'") as ei:
        Program.load(ProgramType.SOCKET_FILTER, RET0, name=bad)
    assert not isinstance(ei.value, VerifierError)
    with pytest.raises(Error, match="invalid program name"):
        Program.from_spec(ProgramSpec(type=ProgramType.SOCKET_FILTER, instructions=RET0, name=bad))


def test_valid_names_reach_the_kernel():
    with Program.load(ProgramType.SOCKET_FILTER, RET0, name="ok.name_1") as p:
        assert p.info().name == "ok.name_1"
    with Program.load(ProgramType.SOCKET_FILTER, RET0, name="a_long_program_name") as p:
        assert p.info().name == "a_long_program_"  # truncated to 15, as libbpf does


def test_check_obj_name_unit():
    from pybpf._sys.objname import check_obj_name

    assert check_obj_name("") == b""
    assert check_obj_name("x" * 20) == b"x" * 15
    with pytest.raises(Error, match="longer than the kernel's 15"):
        check_obj_name("x" * 16, "map", truncate=False)
    with pytest.raises(Error, match="invalid map name 'my-map'.*'my_map'"):
        check_obj_name("my-map", "map")


def _slow_to_verify() -> list:
    """~100k verifier steps (a bounded loop walked iteration by iteration): tens of ms or more."""
    return asm.resolve([asm.mov(R0, 0), asm.label("loop"), asm.add(R0, 1), asm.jlt(R0, 50000, "loop"),
                        asm.mov(R0, 0), asm.exit_()])


def test_load_interrupted_by_signals_gives_up():
    """The verifier returns EAGAIN while a signal is pending: with a 0.5 ms interval timer every
    attempt is interrupted, and the load must end with a BPFError, not spin forever."""
    from pybpf.features import has_bounded_loops

    if not has_bounded_loops():
        pytest.skip("bounded loops unavailable (needs Linux 5.3+)")
    insns = _slow_to_verify()
    hits = []
    old = signal.signal(signal.SIGALRM, lambda *_: hits.append(1))
    signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
    try:
        with pytest.raises(BPFError, match="interrupted by signals") as ei:
            Program.load(ProgramType.SOCKET_FILTER, insns)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, old)
    assert ei.value.errno in (errno.EAGAIN, errno.EINTR) and hits
    with Program.load(ProgramType.SOCKET_FILTER, insns) as p:  # without the signals it loads
        assert p.fd >= 0
