"""The Open Inference Protocol's binary tensor data extension (``binary_tensor_data``) over HTTP.

A request may carry input tensors as raw bytes after its JSON: the ``Inference-Header-Content-Length``
header gives the size of the JSON at the start of the body, each such input gives its size in
``parameters.binary_data_size`` (and has no ``data``), and their bytes follow the JSON in the order
of the inputs. A response carries an output as raw bytes when the request asks for it
(``parameters.binary_data`` on a requested output, or ``parameters.binary_data_output`` on the
request for every output): the output then has ``parameters.binary_data_size`` instead of ``data``,
and the response's header gives the size of its JSON.

Raw tensor bytes are row-major and little-endian; BOOL is one byte (0 or 1) per element; BYTES
is, per element, its length as a 4-byte little-endian unsigned integer followed by that many
bytes. gRPC's ``raw_input_contents`` and ``raw_output_contents`` use the same layout, so
:func:`decode_tensor` and :func:`encode_tensor` serve both transports.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson

from .errors import MalformedRequestError

EXTENSION = "binary_tensor_data"
HEADER_LENGTH = "Inference-Header-Content-Length"
_HEADER_KEY = HEADER_LENGTH.lower().encode()
_LENGTH_PREFIX = struct.Struct("<I")
_MAX_HEADER_DIGITS = 12

FIXED_SIZE_TYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.uint8),  # read as bytes, checked to be 0 or 1
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}


def _bad(message: str, **detail: Any) -> MalformedRequestError:
    return MalformedRequestError(message, details=[detail] if detail else None)


def split_body(body: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[bytes, memoryview | None]:
    """The JSON part of a request body and its binary part (None when the header is absent)."""
    declared = next((value for name, value in headers if name == _HEADER_KEY), None)
    if declared is None:
        return body, None
    text = declared.strip()
    if not (text.isdigit() and len(text) <= _MAX_HEADER_DIGITS):
        raise _bad(f"the {HEADER_LENGTH} header must be a number of bytes", field=HEADER_LENGTH)
    length = int(text)
    if length > len(body):
        raise _bad(
            f"the {HEADER_LENGTH} header gives {length} bytes of JSON, but the body has only {len(body)} bytes",
            field=HEADER_LENGTH,
        )
    view = memoryview(body)
    return bytes(view[:length]), view[length:]


class BinaryInputs:
    """The binary part of a request, handed out input by input in the order of the request's inputs."""

    def __init__(self, data: memoryview | None) -> None:
        self.data = data
        self.offset = 0

    def take(self, name: str, datatype: str, parameters: Any) -> list[Any] | None:
        """The values of input ``name`` when it is sent as binary data, else None."""
        if parameters is None:
            return None
        if type(parameters) is not dict:
            raise _bad(f"input {name!r}: 'parameters' must be an object", input=name)
        size = parameters.get("binary_data_size")
        if size is None:
            return None
        if type(size) is not int or size < 0:
            raise _bad(f"input {name!r}: parameters.binary_data_size must be a number of bytes", input=name)
        if self.data is None:
            raise _bad(
                f"input {name!r} has parameters.binary_data_size but the request has no binary data "
                f"(no {HEADER_LENGTH} header)",
                input=name,
            )
        left = len(self.data) - self.offset
        if size > left:
            raise _bad(
                f"input {name!r}: parameters.binary_data_size is {size} bytes, but only {left} bytes of binary "
                "data are left in the body",
                input=name,
            )
        raw = self.data[self.offset : self.offset + size]
        self.offset += size
        return decode_tensor(name, datatype, raw)

    def finish(self) -> None:
        """Refuse binary data that no input claimed (a size or an input that was left out)."""
        if self.data is not None and self.offset != len(self.data):
            extra = len(self.data) - self.offset
            raise _bad(
                f"the body has {extra} bytes of binary data after the inputs' (their binary_data_size add up to "
                f"{self.offset})",
                field="body",
            )


def decode_tensor(name: str, datatype: str, raw: memoryview | bytes) -> list[Any]:
    """Raw tensor bytes as a flat list of Python values (BYTES elements as text)."""
    if datatype == "BYTES":
        return _decode_bytes(name, raw)
    dtype = FIXED_SIZE_TYPES.get(datatype)
    if dtype is None:
        raise _bad(f"input {name!r}: datatype {datatype[:20]!r} has no binary form", input=name)
    if len(raw) % dtype.itemsize:
        raise _bad(
            f"input {name!r}: {len(raw)} bytes of {datatype} data are not a whole number of "
            f"{dtype.itemsize}-byte elements",
            input=name,
        )
    array = np.frombuffer(raw, dtype=dtype)
    if datatype == "BOOL":
        if array.size and int(array.max()) > 1:
            position = int(np.argmax(array > 1))
            raise _bad(f"input {name!r}: BOOL element {position} is {int(array[position])}, not 0 or 1", input=name)
        return array.astype(bool).tolist()  # type: ignore[no-any-return]
    if datatype == "FP32":
        return _shortest_decimals(array)
    return array.tolist()  # type: ignore[no-any-return]


def _shortest_decimals(array: np.ndarray) -> list[Any]:
    """float32 values as the shortest decimals that denote them: 0.137, not 0.13699999451637268.

    That is the number the client wrote, so range checks compare, and telemetry records (in a
    third of the bytes), what was sent; the float32 fed to the model is the same either way.
    orjson writes float32 that way; it writes non-finite numbers as null, so those are put back
    (a missing value, refused by name where the column is required).
    """
    values: list[Any] = orjson.loads(orjson.dumps(array, option=orjson.OPT_SERIALIZE_NUMPY))
    if None in values:  # a C scan, cheaper than numpy's isfinite on the small tensors most requests send
        for position in np.flatnonzero(~np.isfinite(array)).tolist():
            values[position] = float(array[position])
    return values


def _decode_bytes(name: str, raw: memoryview | bytes) -> list[Any]:
    data = bytes(raw)
    # ASCII throughout (short lengths, ASCII text: the usual case): slice one decoded string, not
    # decode each element, which is most of the cost of a 100-row request's categories.
    text = data.decode("ascii") if data.isascii() else None
    values: list[Any] = []
    append = values.append
    unpack = _LENGTH_PREFIX.unpack_from
    offset, end = 0, len(data)
    while offset < end:
        if end - offset < _LENGTH_PREFIX.size:
            raise _bad(f"input {name!r}: BYTES element {len(values)} is cut off in its 4-byte length", input=name)
        (length,) = unpack(data, offset)
        offset += _LENGTH_PREFIX.size
        stop = offset + length
        if stop > end:
            raise _bad(
                f"input {name!r}: BYTES element {len(values)} has length {length}, more than the "
                f"{end - offset} bytes left in the tensor",
                input=name,
            )
        if text is not None:
            append(text[offset:stop])
        else:
            try:
                append(data[offset:stop].decode("utf-8"))
            except UnicodeDecodeError:
                raise _bad(f"input {name!r}: BYTES element {len(values)} is not UTF-8 text", input=name) from None
        offset = stop
    return values


def encode_tensor(datatype: str, data: list[Any]) -> bytes:
    """A flat list of values as raw tensor bytes (the inverse of :func:`decode_tensor`)."""
    if datatype == "BYTES":
        parts = []
        for value in data:
            encoded = value if isinstance(value, bytes) else str(value).encode()
            parts.append(_LENGTH_PREFIX.pack(len(encoded)))
            parts.append(encoded)
        return b"".join(parts)
    return np.asarray(data, dtype=FIXED_SIZE_TYPES[datatype]).tobytes()


def binary_flag(parameters: Any, key: str, where: str) -> bool | None:
    """``parameters[key]`` (``binary_data`` of an output, ``binary_data_output`` of the request), None if unset."""
    if parameters is None:
        return None
    if type(parameters) is not dict:
        raise _bad(f"{where}: 'parameters' must be an object", field=where)
    value = parameters.get(key)
    if value is not None and type(value) is not bool:
        raise _bad(f"{where}: parameters.{key} must be true or false", field=where)
    return value


def encode_response(response: dict[str, Any]) -> tuple[bytes, int | None]:
    """The response body, and the size of its JSON part when outputs follow it as binary data.

    Outputs marked ``parameters.binary_data`` (see v2.v2_outputs) lose their ``data`` to the binary
    part and get ``parameters.binary_data_size``; ``response`` is changed in place.
    """
    blobs = []
    for output in response["outputs"]:
        parameters = output.get("parameters")
        if parameters is not None and parameters.pop("binary_data", False):
            raw = encode_tensor(output["datatype"], output.pop("data"))
            parameters["binary_data_size"] = len(raw)
            blobs.append(raw)
    header = orjson.dumps(response)
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)
