"""AttributeProto both ways: the field of each attribute kind, reading and writing.

:class:`AttrReader` and :class:`AttrWriter` are the attribute halves of the importer and the
exporter (mixed into them: an attribute may hold tensors and graphs, which they read and write).
A snapshot taken on import lets the exporter re-emit an odd attribute verbatim while it is
unchanged.
"""

from __future__ import annotations

from onnx import AttributeProto

from .._attributes import Attr, AttrType
from ..errors import LoadError

# AttributeProto value field for each attribute kind, and back.
FIELD_OF_KIND = {
    AttrType.FLOAT: "f",
    AttrType.INT: "i",
    AttrType.STRING: "s",
    AttrType.TENSOR: "t",
    AttrType.GRAPH: "g",
    AttrType.SPARSE_TENSOR: "sparse_tensor",
    AttrType.TYPE_PROTO: "tp",
    AttrType.FLOATS: "floats",
    AttrType.INTS: "ints",
    AttrType.STRINGS: "strings",
    AttrType.TENSORS: "tensors",
    AttrType.GRAPHS: "graphs",
    AttrType.SPARSE_TENSORS: "sparse_tensors",
    AttrType.TYPE_PROTOS: "type_protos",
}
KIND_OF_FIELD = {field: kind for kind, field in FIELD_OF_KIND.items()}
# Kinds held in a singular (presence-carrying) field rather than a repeated one.
SINGULAR_KINDS = frozenset(
    {
        AttrType.FLOAT,
        AttrType.INT,
        AttrType.STRING,
        AttrType.TENSOR,
        AttrType.GRAPH,
        AttrType.SPARSE_TENSOR,
        AttrType.TYPE_PROTO,
    }
)
_ATTR_DEFAULTS = {
    AttrType.FLOAT: 0.0,
    AttrType.INT: 0,
    AttrType.STRING: "",
}


def text(raw: str | bytes, what: str) -> str:
    """A name or metadata string of the file; protobuf hands over bytes that are not UTF-8,
    and such a name would break every later step (printing, regexes, saving)."""
    if raw.__class__ is bytes:
        raise LoadError(f"{what} {raw!r} is not UTF-8 text (ONNX strings are UTF-8)")
    return raw


def decode_str(raw: bytes) -> str | bytes:
    """ONNX strings are UTF-8 bytes; keep the bytes when they are not valid UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def encode_str(s) -> bytes:
    return s if isinstance(s, bytes) else str(s).encode("utf-8")


def attr_snapshot(attr: Attr) -> tuple:
    value = attr.value
    if isinstance(value, list):
        value = list(value)
    return (attr.name, attr.type, value, attr.doc_string, attr.ref_attr_name)


def same_attr(attr: Attr, snapshot: tuple) -> bool:
    name, kind, value, doc, ref = snapshot
    current = attr.value
    return (
        attr.name == name
        and attr.type == kind
        and attr.doc_string == doc
        and attr.ref_attr_name == ref
        and (current is value or current == value)
    )


_NO_EXTRAS: dict = {}


class AttrReader:
    """AttributeProto -> Attr, for the importer (which provides ``tensor``, ``sparse``,
    ``graph`` and ``types``)."""

    def attr(self, proto: AttributeProto) -> Attr:
        fields = {fd.name: v for fd, v in proto.ListFields()}
        name = text(fields.get("name", ""), "attribute name")
        type_code = fields.get("type", 0)
        ref = fields.get("ref_attr_name")
        value_fields = [f for f in fields if f in KIND_OF_FIELD]
        odd = False  # needs the verbatim fallback
        if type_code:
            try:
                kind = AttrType(type_code)
            except ValueError:
                kind, odd = type_code, True
        elif len(value_fields) == 1:
            kind = KIND_OF_FIELD[value_fields[0]]  # old models: no type, infer it
        else:
            kind = AttrType.UNDEFINED
            odd = len(value_fields) > 1
        field = FIELD_OF_KIND.get(kind)
        if any(f != field for f in value_fields):
            odd = True
        extras: dict = {}
        value = None
        if field is not None:
            if field in fields:
                value = self.attr_value(kind, fields[field], extras)
            else:
                # Lists default to [] (code iterates them); single values are absent.
                value = self.attr_value(kind, None, extras)
                if kind in SINGULAR_KINDS:
                    extras["absent"] = ("value",)
                    if ref is not None:
                        value = None  # refers to the caller's attribute: no value of its own
        attr = Attr(
            name,
            kind,
            value,
            doc_string=text(fields.get("doc_string", ""), "doc string"),
            ref_attr_name=text(ref, "attribute reference") if ref else ref,
        )
        if "name" not in fields:
            extras.setdefault("absent", ())
            extras["absent"] += ("name",)
        if "type" not in fields:
            if kind != AttrType.UNDEFINED:
                extras["type_code"] = None
        elif type_code == 0:
            extras["type_code"] = 0
        if "doc_string" in fields and not attr.doc_string:
            extras["present"] = ("doc_string",)
        if odd:
            extras["raw"] = (attr_snapshot(attr), proto.SerializeToString())
        if extras:
            attr.proto_extras.update(extras)
        return attr

    def attr_value(self, kind, raw, extras: dict):
        if kind == AttrType.FLOAT or kind == AttrType.INT:
            return _ATTR_DEFAULTS[kind] if raw is None else raw
        if kind == AttrType.STRING:
            return "" if raw is None else decode_str(raw)
        if kind == AttrType.INTS or kind == AttrType.FLOATS:
            return [] if raw is None else list(raw)
        if kind == AttrType.STRINGS:
            return [] if raw is None else [decode_str(s) for s in raw]
        if kind == AttrType.TENSOR:
            return None if raw is None else self.tensor(raw)
        if kind == AttrType.TENSORS:
            return [] if raw is None else [self.tensor(t) for t in raw]
        if kind == AttrType.GRAPH:
            return None if raw is None else self.graph(raw)
        if kind == AttrType.GRAPHS:
            return [] if raw is None else [self.graph(g) for g in raw]
        if kind == AttrType.SPARSE_TENSOR:
            if raw is None:
                return None
            sparse, presence = self.sparse(raw)
            if presence != (True, True):
                extras["sparse_presence"] = [presence]
            return sparse
        if kind == AttrType.SPARSE_TENSORS:
            if raw is None:
                return []
            pairs = [self.sparse(s) for s in raw]
            if any(p != (True, True) for _, p in pairs):
                extras["sparse_presence"] = [p for _, p in pairs]
            return [s for s, _ in pairs]
        if kind == AttrType.TYPE_PROTO:
            if raw is None:
                return None
            ir_type, raw_type = self.types.decode(raw)
            if raw_type is not None:
                extras["type"] = (ir_type, raw_type)
            return ir_type
        if kind == AttrType.TYPE_PROTOS:
            if raw is None:
                return []
            decoded = [self.types.decode(t) for t in raw]
            if any(r is not None for _, r in decoded):
                extras["types"] = [(t, r) for t, r in decoded]
            return [t for t, _ in decoded]
        return None


class AttrWriter:
    """Attr -> AttributeProto, for the exporter (which provides ``tensor``, ``sparse``,
    ``graph`` and ``types``)."""

    def attr(self, attr, dst: AttributeProto) -> None:
        extras = attr.proto_extras or _NO_EXTRAS
        if extras:
            kept = extras.get("raw")
            if kept is not None and same_attr(attr, kept[0]):
                dst.ParseFromString(kept[1])
                return
        absent = extras.get("absent", ())
        if "name" not in absent:
            dst.name = attr.name
        kind = attr.type
        if "type_code" in extras:
            code = extras["type_code"]
        else:
            code = int(kind) if kind != AttrType.UNDEFINED else None
        if code is not None:
            dst.type = code
        if attr.ref_attr_name is not None:
            dst.ref_attr_name = attr.ref_attr_name
        if attr.doc_string or "doc_string" in extras.get("present", ()):
            dst.doc_string = attr.doc_string
        value = attr.value
        if value is None and kind == AttrType.TYPE_PROTO and "type" in extras:
            self.types.write(None, dst.tp, extras["type"])  # an empty TypeProto
            return
        if value is None or (kind in SINGULAR_KINDS and "value" in absent):
            return
        if kind == AttrType.INT:
            dst.i = value
        elif kind == AttrType.INTS:
            dst.ints.extend(value)
        elif kind == AttrType.FLOAT:
            dst.f = value
        elif kind == AttrType.FLOATS:
            dst.floats.extend(value)
        elif kind == AttrType.STRING:
            dst.s = encode_str(value)
        elif kind == AttrType.STRINGS:
            dst.strings.extend([encode_str(s) for s in value])
        elif kind == AttrType.TENSOR:
            self.tensor(value, dst.t, None, False)
        elif kind == AttrType.TENSORS:
            for tensor in value:
                self.tensor(tensor, dst.tensors.add(), None, False)
        elif kind == AttrType.GRAPH:
            self.graph(value, dst.g)
        elif kind == AttrType.GRAPHS:
            for graph in value:
                self.graph(graph, dst.graphs.add())
        elif kind == AttrType.SPARSE_TENSOR:
            presence = extras.get("sparse_presence", [None])[0]
            self.sparse(value, dst.sparse_tensor, presence, False)
        elif kind == AttrType.SPARSE_TENSORS:
            presences = extras.get("sparse_presence") or [None] * len(value)
            if len(presences) != len(value):
                presences = [None] * len(value)
            for sparse, presence in zip(value, presences):
                self.sparse(sparse, dst.sparse_tensors.add(), presence, False)
        elif kind == AttrType.TYPE_PROTO:
            self.types.write(value, dst.tp, extras.get("type"))
        elif kind == AttrType.TYPE_PROTOS:
            kept = extras.get("types")
            if kept is None or len(kept) != len(value):
                kept = [None] * len(value)
            for ir_type, original in zip(value, kept):
                self.types.write(ir_type, dst.type_protos.add(), original)
        else:
            raise TypeError(f"cannot export attribute {attr.name!r} of type {kind!r}")
