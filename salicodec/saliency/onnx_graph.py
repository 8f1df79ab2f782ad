"""A minimal reader of ONNX files: the graph's nodes and initializers, enough to port a model.

ONNX files are protocol-buffer messages (onnx.proto3). Reading the few fields needed here takes a
page of code, where the `onnx` package would be a 17 MB dependency for one conversion. Field
numbers are those of onnx.proto: ModelProto.graph = 7; GraphProto.node = 1, .initializer = 5;
NodeProto.input = 1, .output = 2, .name = 3, .op_type = 4, .attribute = 5; AttributeProto.name = 1,
.f = 2, .i = 3, .s = 4, .floats = 7, .ints = 8; TensorProto.dims = 1, .data_type = 2,
.float_data = 4, .name = 8, .raw_data = 9.
"""
from __future__ import annotations

import struct
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FLOAT = 1  # TensorProto.DataType.FLOAT


@dataclass
class Node:
    op_type: str
    inputs: list[str]
    outputs: list[str]
    attributes: dict[str, object] = field(default_factory=dict)


@dataclass
class Graph:
    nodes: list[Node]
    initializers: dict[str, np.ndarray]


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i


def _fields(buf: bytes) -> dict[int, list]:
    """All fields of one message: number -> list of values (ints, or bytes for length-delimited)."""
    out: dict[int, list] = defaultdict(list)
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        elif wire == 2:
            length, i = _varint(buf, i)
            value, i = buf[i : i + length], i + length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        out[number].append(value)
    return out


def _ints(values: list) -> list[int]:
    """A repeated int64 field, packed (one bytes value) or not (several varints)."""
    ints: list[int] = []
    for v in values:
        if isinstance(v, int):
            ints.append(v)
        else:
            i = 0
            while i < len(v):
                x, i = _varint(v, i)
                ints.append(x)
    return [x - (1 << 64) if x >= 1 << 63 else x for x in ints]


def _tensor(buf: bytes) -> tuple[str, np.ndarray]:
    f = _fields(buf)
    name = f[8][0].decode()
    dims = _ints(f[1])
    dtype = f[2][0] if f[2] else FLOAT
    if dtype != FLOAT:
        raise ValueError(f"initializer {name}: data type {dtype} is not float32")
    if f[9]:
        data = np.frombuffer(f[9][0], dtype="<f4")
    else:
        data = np.array([x for v in f[4] for x in struct.unpack(f"<{len(v) // 4}f", v)], dtype=np.float32)
    return name, data.astype(np.float32).reshape(dims)


def _attribute(buf: bytes) -> tuple[str, object]:
    f = _fields(buf)
    name = f[1][0].decode()
    if f[8]:
        return name, _ints(f[8])
    if f[7]:
        return name, [x for v in f[7] for x in struct.unpack(f"<{len(v) // 4}f", v)]
    if f[3]:
        return name, _ints(f[3])[0]
    if f[2]:
        return name, struct.unpack("<f", f[2][0])[0]
    if f[4]:
        return name, f[4][0].decode(errors="replace")
    return name, None


def read_graph(path: str | Path) -> Graph:
    model = _fields(Path(path).read_bytes())
    if not model.get(7):
        raise ValueError(f"{path}: no graph in this ONNX file")
    graph = _fields(model[7][0])
    nodes = []
    for raw in graph[1]:
        f = _fields(raw)
        nodes.append(
            Node(
                op_type=f[4][0].decode(),
                inputs=[x.decode() for x in f[1]],
                outputs=[x.decode() for x in f[2]],
                attributes=dict(_attribute(a) for a in f[5]),
            )
        )
    initializers = dict(_tensor(t) for t in graph[5])
    return Graph(nodes, initializers)
