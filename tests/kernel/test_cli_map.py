"""``pybpf map``: show, dump, element verbs, create/pin/freeze, queues — compared with bpftool."""

from __future__ import annotations

import json
import os
import re

import pytest
from test_cli_common import LoadedBTFProg, bpftool, cli, needs_bpftool, norm_json, norm_plain

from pybpf import Map, MapType, Program, ProgramType, asm
from pybpf._sys.fs import ensure_bpffs

pytestmark = needs_bpftool


def same_show(capsys, map_id: int) -> None:
    rc, out, _ = cli(capsys, "map", "show", "id", str(map_id))
    assert rc == 0 and norm_plain(out) == bpftool("map", "show", "id", str(map_id))
    rc, out, _ = cli(capsys, "-j", "map", "show", "id", str(map_id))
    assert norm_json(json.loads(out)) == json.loads(bpftool("-j", "map", "show", "id", str(map_id)))


def _inner_ids_as_hex(text: str) -> str:
    """Upstream bpftool prints map-in-map values as ``inner_map_id: N ``; 7.1 as hex bytes."""
    return re.sub(r"inner_map_id: (\d+) ", lambda m: "value: " + int(m.group(1)).to_bytes(4, "little").hex(" "), text)


def same_dump(capsys, map_id: int, of_maps: bool = False) -> str:
    rc, plain, _ = cli(capsys, "map", "dump", "id", str(map_id))
    assert rc == 0
    assert (_inner_ids_as_hex(plain) if of_maps else plain) == bpftool("map", "dump", "id", str(map_id))
    for opt in ("-j", "-p"):
        rc, out, _ = cli(capsys, opt, "map", "dump", "id", str(map_id))
        theirs = bpftool(opt, "map", "dump", "id", str(map_id))
        if of_maps:
            ours = json.loads(out)
            assert all(o.pop("inner_map_id") == int.from_bytes(bytes(int(b, 16) for b in o["value"]), "little")
                       for o in ours)
            assert ours == json.loads(theirs)
        else:
            assert rc == 0 and out == theirs, opt
    return plain


@pytest.mark.parametrize("mtype,ks,vs,n", [
    (MapType.HASH, 4, 8, 300), (MapType.ARRAY, 4, 4, 7), (MapType.HASH, 20, 3, 5), (MapType.LRU_HASH, 8, 24, 9),
    (MapType.PERCPU_HASH, 4, 12, 4), (MapType.PERCPU_ARRAY, 4, 8, 3), (MapType.HASH, 1, 17, 3),
])
def test_show_and_dump_match_bpftool(capsys, mtype, ks, vs, n):
    arrays = (MapType.ARRAY, MapType.PERCPU_ARRAY)
    with Map.create(mtype, ks, vs, n if mtype in arrays else 4 * n + 8, name="cli_dump") as m:
        for i in range(n):
            if mtype in (MapType.ARRAY, MapType.PERCPU_ARRAY):
                key = i.to_bytes(ks, "little")
            else:
                key = (i * 0x01010101 + 1).to_bytes(8, "little")[:ks] if ks < 8 else i.to_bytes(ks, "little")
            m.update(key, [bytes((i + j) & 0xFF for j in range(vs))] * m.ncpus if m.percpu
                     else bytes((i * 7 + j) & 0xFF for j in range(vs)))
        same_show(capsys, m.id)
        plain = same_dump(capsys, m.id)
        count = n if mtype not in (MapType.ARRAY, MapType.PERCPU_ARRAY) else m.max_entries
        assert plain.endswith(f"Found {count} element{'s' if count != 1 else ''}\n")


def test_dump_empty_and_special_maps(capsys):
    with Map.create(MapType.HASH, 4, 4, 4, name="cli_empty") as m:
        rc, out, _ = cli(capsys, "map", "dump", "id", str(m.id))
        assert out == "Found 0 elements\n" == bpftool("map", "dump", "id", str(m.id))
        rc, out, _ = cli(capsys, "-j", "map", "dump", "id", str(m.id))
        assert out == "[]\n"
    insns = [asm.mov(asm.R0, 0), asm.exit_()]
    with Map.create(MapType.PROG_ARRAY, 4, 4, 4, name="cli_jmp") as pa, \
            Program.load(ProgramType.XDP, insns, name="cli_tail") as p:
        pa[1] = p.fd
        same_show(capsys, pa.id)
        same_dump(capsys, pa.id)
    with Map.create(MapType.ARRAY, 4, 4, 1, name="cli_inner") as inner, \
            Map.create(MapType.ARRAY_OF_MAPS, 4, 4, 3, name="cli_outer", inner_map=inner) as outer:
        outer[2] = inner.fd
        same_dump(capsys, outer.id, of_maps=True)


def test_dump_btf_map_and_rodata(capsys, tmp_path):
    p = LoadedBTFProg(str(tmp_path))
    try:
        bpftool("map", "update", "id", str(p.counts_id), "key", "1", "0", "0", "0", "value", "hex",
                "5", "0", "0", "0", "0", "0", "0", "0", "1", "0", "0", "0", "41", "42", "0", "0")
        for mid in p.map_ids:
            same_show(capsys, mid)
            same_dump(capsys, mid)
        rc, out, _ = cli(capsys, "map", "dump", "id", str(p.counts_id))
        assert '"tag": "AB"' in out and '"packets": 5' in out
        for opt in ([], ["-j"]):
            rc, out, _ = cli(capsys, *opt, "map", "lookup", "id", str(p.counts_id), "key", "1", "0", "0", "0")
            assert rc == 0 and out == bpftool(*opt, "map", "lookup", "id", str(p.counts_id), "key", "1", "0", "0", "0")
    finally:
        p.close()


def test_element_verbs_like_bpftool(capsys):
    with Map.create(MapType.HASH, 4, 8, 8, name="cli_elems") as m:
        mid = str(m.id)
        rc, out, err = cli(capsys, "map", "update", "id", mid, "key", "0x01", "0", "0", "0", "value", "hex",
                           "ff", "0", "0", "0", "0", "0", "0", "1")
        assert (rc, out, err) == (0, "", "")
        assert m[1] == b"\xff" + bytes(6) + b"\x01"
        rc, out, _ = cli(capsys, "map", "update", "id", mid, "key", "2", "0", "0", "0", "value", "010", "0", "0",
                         "0", "0", "0", "0", "0", "noexist")
        assert rc == 0 and m[2][0] == 8  # 010 is octal, as C strtoul reads it
        rc, _, err = cli(capsys, "map", "update", "id", mid, "key", "2", "0", "0", "0", "value", *["0"] * 8, "noexist")
        assert rc == 255 and err.startswith("Error: update failed: File exists")
        k1, k9 = ["key", "1", "0", "0", "0"], ["key", "9", "0", "0", "0"]
        for args in (["lookup", "id", mid, *k1], ["getnext", "id", mid], ["getnext", "id", mid, *k1],
                     ["lookup", "id", mid, *k9]):
            rc, out, _ = cli(capsys, "map", *args)
            assert out == bpftool("map", *args, check=False), args
            rc, out, _ = cli(capsys, "-j", "map", *args)
            assert json.loads(out) == json.loads(bpftool("-j", "map", *args, check=False)), args
        rc, out, _ = cli(capsys, "map", "lookup", "id", mid, "key", "9", "0", "0", "0")
        assert rc == 255 and out == "key:\n09 00 00 00\n\nNot found\n"
        rc, _, err = cli(capsys, "map", "lookup", "id", mid, "key", "1", "0")
        assert rc == 255 and err == "Error: key expected 4 bytes got 2\n"
        rc, _, err = cli(capsys, "map", "lookup", "id", mid, "key", "1", "0", "zz", "0")
        assert rc == 255 and err == "Error: error parsing byte: zz\n"
        rc, _, err = cli(capsys, "map", "lookup", "id", mid)
        assert rc == 255 and err == "Error: did not find key\n"
        rc, out, err = cli(capsys, "map", "delete", "id", mid, "key", "1", "0", "0", "0")
        assert (rc, out, err) == (0, "", "") and 1 not in m
        rc, _, err = cli(capsys, "map", "delete", "id", mid, "key", "1", "0", "0", "0")
        assert rc == 255 and err == "Error: delete failed: No such file or directory\n"
        rc, out, _ = cli(capsys, "-j", "map", "delete", "id", mid, "key", "2", "0", "0", "0")
        assert rc == 0 and out == "null\n"


def test_update_percpu_and_map_in_map_values(capsys):
    with Map.create(MapType.PERCPU_ARRAY, 4, 4, 2, name="cli_pcpu") as m:
        rc, _, _ = cli(capsys, "map", "update", "id", str(m.id), "key", "1", "0", "0", "0", "value", "7", "0", "0", "0")
        assert rc == 0 and m[1] == [b"\x07\0\0\0"] * m.ncpus
    with Map.create(MapType.ARRAY, 4, 4, 1, name="cli_in") as inner, \
            Map.create(MapType.HASH_OF_MAPS, 4, 4, 2, name="cli_out", inner_map=inner) as outer:
        rc, _, err = cli(capsys, "map", "update", "id", str(outer.id), "key", "3", "0", "0", "0",
                         "value", "id", str(inner.id))
        assert rc == 0, err
        rc, out, _ = cli(capsys, "map", "dump", "id", str(outer.id))
        assert out == f"key: 03 00 00 00  inner_map_id: {inner.id} \nFound 1 element\n"


def test_queue_stack_verbs(capsys):
    with Map.create(MapType.QUEUE, 0, 4, 4, name="cli_q") as q:
        qid = str(q.id)
        for v in ("1", "2"):
            rc, _, err = cli(capsys, "map", "push" if v == "1" else "enqueue", "id", qid, "value", v, "0", "0", "0")
            assert rc == 0, err
        rc, out, _ = cli(capsys, "map", "peek", "id", qid)
        assert out == bpftool("map", "peek", "id", qid) == "value: 01 00 00 00\n"
        rc, out, _ = cli(capsys, "-j", "map", "pop", "id", qid)
        assert json.loads(out) == {"key": [], "value": ["0x01", "0x00", "0x00", "0x00"]}
        rc, out, _ = cli(capsys, "map", "dequeue", "id", qid)
        assert rc == 0 and out == "value: 02 00 00 00\n"
        rc, out, _ = cli(capsys, "map", "pop", "id", qid)
        assert rc == 255 and out == "Error: empty map\n"
        rc, _, err = cli(capsys, "map", "push", "id", qid, "key", "1", "value", "1", "0", "0", "0")
        assert rc == 255 and err == "Error: unnecessary key\n"


def test_create_pin_freeze(capsys):
    ensure_bpffs()
    path = f"/sys/fs/bpf/pybpf_cli_create_{os.getpid()}"
    path2 = path + "_2"
    try:
        rc, out, err = cli(capsys, "map", "create", path, "type", "hash", "key", "4", "value", "8", "entries", "64",
                           "name", "cli_created", "flags", "1")
        assert (rc, out, err) == (0, "", "")
        info = json.loads(bpftool("-j", "map", "show", "pinned", path))
        assert (info["type"], info["name"], info["bytes_key"], info["bytes_value"], info["max_entries"],
                info["flags"]) == ("hash", "cli_created", 4, 8, 64, 1)
        mid = str(info["id"])
        rc, out, _ = cli(capsys, "-f", "map", "show", "id", mid)
        assert f"\n\tpinned {path}\n" in out and norm_plain(out) == bpftool("-f", "map", "show", "id", mid)
        rc, _, _ = cli(capsys, "map", "pin", "id", mid, path2)
        assert rc == 0 and json.loads(bpftool("-j", "map", "show", "pinned", path2))["id"] == info["id"]
        rc, out, _ = cli(capsys, "-f", "-j", "map", "show", "id", mid)
        assert sorted(json.loads(out)["pinned"]) == sorted([path, path2])
        rc, _, _ = cli(capsys, "map", "freeze", "pinned", path)
        assert rc == 0
        same_show(capsys, info["id"])
        rc, _, err = cli(capsys, "map", "update", "pinned", path, "key", *["0"] * 4, "value", *["0"] * 8)
        assert rc == 255 and err.startswith("Error: update failed: Operation not permitted")
        rc, _, err = cli(capsys, "map", "create", path + "_x", "type", "nosuch", "key", "4", "value", "4",
                         "entries", "1", "name", "x")
        assert rc == 255 and err == "Error: unrecognized map type: nosuch\n"
        rc, _, err = cli(capsys, "map", "create", path + "_x", "type", "hash", "key", "4", "value", "4", "entries", "1")
        assert rc == 255 and err == "Error: 'entries' needs at least 7 arguments, 6 found\n" or "name" in err
    finally:
        for p in (path, path2):
            if os.path.exists(p):
                os.unlink(p)


def test_map_name_handle_and_several_maps(capsys):
    with Map.create(MapType.ARRAY, 4, 4, 1, name="cli_same") as a, Map.create(MapType.ARRAY, 4, 4, 1, name="cli_same"):
        rc, out, _ = cli(capsys, "-j", "map", "show", "name", "cli_same")
        assert len(json.loads(out)) == 2
        rc, _, err = cli(capsys, "map", "lookup", "name", "cli_same", "key", *["0"] * 4)
        assert rc == 255 and err == "Error: several maps match this handle\n"
        rc, out, _ = cli(capsys, "map", "dump", "name", "cli_same")
        assert out == bpftool("map", "dump", "name", "cli_same")
        rc, out, _ = cli(capsys, "-j", "map", "dump", "name", "cli_same")
        assert json.loads(out) == json.loads(bpftool("-j", "map", "dump", "name", "cli_same"))
        del a


def test_event_pipe_needs_perf_array(capsys):
    with Map.create(MapType.HASH, 4, 4, 1) as m:
        rc, _, err = cli(capsys, "map", "event_pipe", "id", str(m.id))
        assert rc == 255 and err == "Error: map is not a perf event array\n"
