"""``bcc.tcp``: TCP state and header flag names for tools' output."""

from __future__ import annotations

__all__ = ["tcpstate", "state2str", "flags2str", "TCPHDR_FIN", "TCPHDR_SYN", "TCPHDR_RST", "TCPHDR_PSH",
           "TCPHDR_ACK", "TCPHDR_URG", "TCPHDR_ECE", "TCPHDR_CWR"]

#: include/net/tcp_states.h
tcpstate: dict[int, str] = {
    1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT",
    7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV",
}

# include/net/tcp.h
TCPHDR_FIN, TCPHDR_SYN, TCPHDR_RST, TCPHDR_PSH = 0x01, 0x02, 0x04, 0x08
TCPHDR_ACK, TCPHDR_URG, TCPHDR_ECE, TCPHDR_CWR = 0x10, 0x20, 0x40, 0x80
_FLAGS = (("FIN", TCPHDR_FIN), ("SYN", TCPHDR_SYN), ("RST", TCPHDR_RST), ("PSH", TCPHDR_PSH),
          ("ACK", TCPHDR_ACK), ("URG", TCPHDR_URG), ("ECE", TCPHDR_ECE), ("CWR", TCPHDR_CWR))


def state2str(state: int) -> str:
    """``"ESTABLISHED"`` for 1 ...; the number itself for an unknown state."""
    return tcpstate.get(state, str(state))


def flags2str(flags: int) -> str:
    """TCP header flags as ``"SYN|ACK"``."""
    return "|".join(name for name, bit in _FLAGS if flags & bit)
