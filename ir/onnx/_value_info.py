"""Writing metadata, opset imports and ValueInfoProto, shared by the exporter and the importer
(which compares a repeated value_info with the canonical one to decide whether to keep it)."""

from __future__ import annotations

from onnx import ValueInfoProto

from .._nodes import Value
from ._proto_types import TypeCodec


def write_metadata(metadata: dict[str, str], repeated, extras: dict) -> None:
    kept = extras.get("metadata") if extras else None
    if kept is not None and kept[0] == metadata:
        for raw in kept[1]:
            repeated.add().ParseFromString(raw)
        return
    for key, value in metadata.items():
        repeated.add(key=key, value=value)


def write_opsets(opsets: dict[str, int], repeated, extras: dict) -> None:
    kept = extras.get("opset_import") if extras else None
    if kept is not None and kept[0] == opsets:
        for raw in kept[1]:
            repeated.add().ParseFromString(raw)
        return
    for domain, version in opsets.items():
        repeated.add(domain=domain, version=version)


def write_value_info(value: Value, dst: ValueInfoProto, types: TypeCodec, name: str) -> None:
    extras = value.proto_extras
    if extras:
        if "name" not in extras.get("absent", ()):
            dst.name = name
        kept_type = extras.get("type")
        if value.type is not None or (kept_type is not None and kept_type[0] is None):
            types.write(value.type, dst.type, kept_type)
        if value.doc_string or "doc_string" in extras.get("present", ()):
            dst.doc_string = value.doc_string
    else:
        dst.name = name
        if value.type is not None:
            types.write(value.type, dst.type, None)
        if value.doc_string:
            dst.doc_string = value.doc_string
    if value.metadata_props:
        write_metadata(value.metadata_props, dst.metadata_props, extras)


def value_info_bytes(value: Value, types: TypeCodec) -> bytes:
    """The canonical ValueInfoProto of ``value``, serialized (the importer compares with it)."""
    proto = ValueInfoProto()
    write_value_info(value, proto, types, value.name)
    return proto.SerializeToString()


def fingerprint(value: Value) -> tuple:
    """What a ValueInfoProto is built from; a kept mention is valid while this is unchanged."""
    return (value.name, value.type, value.doc_string, tuple(value.metadata_props.items()))
