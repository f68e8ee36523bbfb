"""A minimal ONNX writer: protocol buffers by hand, then the few ONNX messages a model needs.

An ONNX file is one protocol-buffer message, a ModelProto (onnx/onnx.proto). A message is
a sequence of fields, each a key then a value; the key is  field_number << 3 | wire_type:

    wire type 0  varint     an integer, 7 bits per byte, least significant group first, the
                            high bit of each byte set when another byte follows:
                            1 -> 01    150 -> 96 01    a negative int64 -> its 64-bit two's
                            complement, always 10 bytes
    wire type 2  length-delimited   a varint byte count, then the bytes: strings, raw tensor
                            data, packed repeated numbers, and nested messages
    wire type 5  32-bit     4 bytes little-endian: a float
Fields may come in any order and a repeated field simply appears again, so writing needs no
more than the functions below. Example: NodeProto {op_type: "Relu"} is field 4, wire type 2:
key 4 << 3 | 2 = 0x22, length 4, then b"Relu": 22 04 52 65 6c 75.

The messages used (field numbers from onnx.proto):
    ModelProto          ir_version 1, producer_name 2, producer_version 3, graph 7,
                        opset_import 8, metadata_props 14
    OperatorSetIdProto  domain 1, version 2
    GraphProto          node 1, name 2, initializer 5, doc_string 10, input 11, output 12
    NodeProto           input 1, output 2, name 3, op_type 4, attribute 5
    AttributeProto      name 1, f 2, i 3, s 4, ints 8, strings 9, type 20 (FLOAT 1, INT 2, STRING 3,
                        INTS 7, STRINGS 8)
    TensorProto         dims 1, data_type 2, name 8, raw_data 9 (FLOAT 1, INT64 7, DOUBLE 11)
    ValueInfoProto      name 1, type 2 -> TypeProto tensor_type 1 -> elem_type 1, shape 2
    TensorShapeProto    dim 1 -> Dimension dim_value 1 | dim_param 2
    StringStringEntryProto  key 1, value 2
"""

import struct

# ONNX TensorProto.DataType numbers for the safetensors dtypes used here
ONNX_DTYPES = {"F32": 1, "I64": 7, "F64": 11}
_ATTRIBUTE_FLOAT, _ATTRIBUTE_INT, _ATTRIBUTE_STRING, _ATTRIBUTE_INTS, _ATTRIBUTE_STRINGS = 1, 2, 3, 7, 8
IR_VERSION = 7  # the IR version of opset 13 (ONNX 1.8)
OPSET = 13


# ------------------------------------------------------------ protocol buffers
def varint(value):
    """The varint encoding of an integer: 7 bits per byte, low bits first, high bit = more follows.
    A negative number is written as its 64-bit two's complement (int64 fields), 10 bytes."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def key(field, wire_type):
    """A field's key: its number shifted left 3 bits, or'ed with its wire type."""
    return varint(field << 3 | wire_type)


def int_field(field, value):
    """A varint field (int32, int64, enum)."""
    return key(field, 0) + varint(value)


def bytes_field(field, data):
    """A length-delimited field: bytes, or an already encoded message."""
    return key(field, 2) + varint(len(data)) + bytes(data)


def string_field(field, text):
    return bytes_field(field, text.encode("utf-8"))


def float_field(field, value):
    """A 32-bit field: a float, 4 bytes little-endian."""
    return key(field, 5) + struct.pack("<f", value)


def packed_ints_field(field, values):
    """A packed repeated int64 field: one length-delimited field holding the varints back to back."""
    return bytes_field(field, b"".join(varint(v) for v in values))


# ----------------------------------------------------------------- ONNX messages
def tensor_proto(name, dtype, dims, raw):
    """TensorProto: a named constant (an initializer) with its raw little-endian bytes."""
    dims_bytes = b"".join(int_field(1, d) for d in dims)
    return dims_bytes + int_field(2, ONNX_DTYPES[dtype]) + string_field(8, name) + bytes_field(9, raw)


def attribute_proto(name, value):
    """AttributeProto of an int, a float, a string, or a list of ints or of strings."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, list, tuple)):
        raise TypeError(f"attribute {name}: cannot encode {value!r}")
    if isinstance(value, int):
        body, kind = int_field(3, value), _ATTRIBUTE_INT
    elif isinstance(value, float):
        body, kind = float_field(2, value), _ATTRIBUTE_FLOAT
    elif isinstance(value, str):
        body, kind = bytes_field(4, value.encode("utf-8")), _ATTRIBUTE_STRING
    elif all(isinstance(v, str) for v in value):  # strings: field 9, one per value
        body, kind = b"".join(bytes_field(9, v.encode("utf-8")) for v in value), _ATTRIBUTE_STRINGS
    else:  # ints: written unpacked, one field per value, as the onnx package writes them
        body, kind = b"".join(int_field(8, v) for v in value), _ATTRIBUTE_INTS
    return string_field(1, name) + body + int_field(20, kind)


def node_proto(op_type, inputs, outputs, name, attributes=None):
    """NodeProto: one operator applied to named inputs, giving named outputs."""
    parts = [string_field(1, i) for i in inputs] + [string_field(2, o) for o in outputs]
    parts += [string_field(3, name), string_field(4, op_type)]
    parts += [bytes_field(5, attribute_proto(k, v)) for k, v in (attributes or {}).items()]
    return b"".join(parts)


def value_info_proto(name, dtype, dims):
    """ValueInfoProto of a tensor: its element type and shape; a str dimension is symbolic ('batch')."""
    shape = b"".join(bytes_field(1, string_field(2, d) if isinstance(d, str) else int_field(1, d)) for d in dims)
    tensor_type = int_field(1, ONNX_DTYPES[dtype]) + bytes_field(2, shape)
    return string_field(1, name) + bytes_field(2, bytes_field(1, tensor_type))


def graph_proto(name, nodes, initializers, inputs, outputs, doc=""):
    """GraphProto from encoded nodes, initializers (TensorProto) and input/output ValueInfoProtos."""
    parts = [bytes_field(1, n) for n in nodes] + [string_field(2, name)]
    parts += [bytes_field(5, t) for t in initializers]
    if doc:
        parts.append(string_field(10, doc))
    parts += [bytes_field(11, v) for v in inputs] + [bytes_field(12, v) for v in outputs]
    return b"".join(parts)


def model_proto(graph, producer="pure-python-neural-network", version="", metadata=None,
                opset=OPSET, ir_version=IR_VERSION):
    """ModelProto: the IR version, the producer, the graph, the default-domain opset, metadata_props."""
    parts = [int_field(1, ir_version), string_field(2, producer)]
    if version:
        parts.append(string_field(3, version))
    parts += [bytes_field(7, graph), bytes_field(8, string_field(1, "") + int_field(2, opset))]
    for k, v in (metadata or {}).items():
        parts.append(bytes_field(14, string_field(1, k) + string_field(2, v)))
    return b"".join(parts)
