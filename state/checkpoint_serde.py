"""The checkpoint serializer: LangGraph's strict msgpack serializer, with a faster encoder for this project's state.

`JsonPlusSerializer` encodes every object msgpack cannot pack natively through one Python callback that
tries ~20 type tests in turn (a pydantic model at the second; a datetime at the thirteenth; a dataclass
after a `runtime_checkable` protocol test that alone costs ~15 us). A session's final state holds ~130
such objects (the 120 bars' times, the project's models, dataclasses and enums): that callback, and the
bar times' ISO text, were most of the CPU of a checkpoint write. `CheckpointSerializer` looks those
classes up by exact type instead (the allowlisted pydantic models, dataclasses and enums, and `datetime`),
and memoizes the encoded datetimes (sessions repeat the same bar times). Everything else goes to
LangGraph's own callback.

It writes the same bytes as `JsonPlusSerializer` (the tests compare them on a real session's state), so
any LangGraph reader with the same allowlist loads what it writes, and older checkpoints load unchanged.
Loading is LangGraph's, untouched: strict allowlist, no pickle fallback.
"""

from __future__ import annotations

import dataclasses
import decimal
import pathlib
import re
from collections import deque
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta, timezone
from enum import Enum
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface, IPv6Network
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import ormsgpack
from langgraph.checkpoint.serde import jsonplus
from langgraph.checkpoint.serde.jsonplus import (
    EXT_CONSTRUCTOR_KW_ARGS,
    EXT_CONSTRUCTOR_SINGLE_ARG,
    EXT_METHOD_SINGLE_ARG,
    EXT_PYDANTIC_V2,
    JsonPlusSerializer,
)
from langgraph.checkpoint.serde.types import _DeltaSnapshot

__all__ = ["CheckpointSerializer"]

# LangGraph's msgpack options (`jsonplus._option`): the types below reach the callback instead of being
# packed natively.
PACK_OPTIONS = (
    ormsgpack.OPT_NON_STR_KEYS
    | ormsgpack.OPT_PASSTHROUGH_DATACLASS
    | ormsgpack.OPT_PASSTHROUGH_DATETIME
    | ormsgpack.OPT_PASSTHROUGH_ENUM
    | ormsgpack.OPT_PASSTHROUGH_UUID
    | ormsgpack.OPT_REPLACE_SURROGATES
)

# Classes LangGraph's callback tests before it reaches the branch a class would take here: a class derived
# from one of them (or with one of the attributes) is left to LangGraph, which decides as it always has.
_TESTED_FIRST = (
    _DeltaSnapshot, pathlib.Path, re.Pattern, UUID, decimal.Decimal, set, frozenset, deque,
    IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface, IPv6Network,
    datetime, timedelta, date, time, timezone, ZoneInfo,
)  # fmt: skip
_DUCK_TYPED_FIRST = ("get_secret_value", "dict", "_asdict")
_SEND_PROTOCOL = ("node", "arg")  # a dataclass with both could pass LangGraph's `SendProtocol` test

_Encoder = Callable[[Any], ormsgpack.Ext]


class CheckpointSerializer(JsonPlusSerializer):
    """`JsonPlusSerializer(allowed_msgpack_modules=allowed_types)`, encoding the allowed types faster.

    Never enables the pickle fallback; loading is the base class's (strict allowlist).
    """

    def __init__(self, allowed_types: Iterable[type]) -> None:
        types = list(allowed_types)
        super().__init__(allowed_msgpack_modules=types)
        encoders: dict[type, _Encoder] = {datetime: _datetime_ext}
        for cls in types:
            encoder = self._encoder_for(cls)
            if encoder is not None:
                encoders[cls] = encoder
        self._encoders = encoders

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        if obj is None or isinstance(obj, (bytes, bytearray)):
            return super().dumps_typed(obj)
        try:
            return "msgpack", self._pack(obj)
        except ormsgpack.MsgpackEncodeError:
            return super().dumps_typed(obj)  # raises as LangGraph does, with LangGraph's message

    def _pack(self, obj: Any) -> bytes:
        return ormsgpack.packb(obj, default=self._default, option=PACK_OPTIONS)

    def _default(self, obj: Any) -> Any:
        encoder = self._encoders.get(type(obj))
        if encoder is None:
            return jsonplus._msgpack_default(obj)
        return encoder(obj)

    def _encoder_for(self, cls: type) -> _Encoder | None:
        """The encoder LangGraph's callback amounts to for instances of `cls`, or None to leave them to it."""
        if issubclass(cls, _DeltaSnapshot):
            return None
        if callable(getattr(cls, "model_dump", None)):  # pydantic v2: LangGraph's second test
            return self._pydantic_encoder(cls)
        if issubclass(cls, _TESTED_FIRST) or any(hasattr(cls, name) for name in _DUCK_TYPED_FIRST):
            return None
        if issubclass(cls, Enum):
            return self._enum_encoder(cls)
        if dataclasses.is_dataclass(cls):
            names = tuple(field.name for field in dataclasses.fields(cls))
            if all(name in names or hasattr(cls, name) for name in _SEND_PROTOCOL):
                return None
            return self._dataclass_encoder(cls, names)
        return None

    def _pydantic_encoder(self, cls: type) -> _Encoder:
        module, name, pack = cls.__module__, cls.__name__, self._pack

        def encode(obj: Any) -> ormsgpack.Ext:
            return ormsgpack.Ext(EXT_PYDANTIC_V2, pack((module, name, obj.model_dump(), "model_validate_json")))

        return encode

    def _enum_encoder(self, cls: type) -> _Encoder:
        module, name, pack = cls.__module__, cls.__name__, self._pack

        def encode(obj: Any) -> ormsgpack.Ext:
            return ormsgpack.Ext(EXT_CONSTRUCTOR_SINGLE_ARG, pack((module, name, obj.value)))

        return encode

    def _dataclass_encoder(self, cls: type, names: tuple[str, ...]) -> _Encoder:
        module, name, pack = cls.__module__, cls.__name__, self._pack

        def encode(obj: Any) -> ormsgpack.Ext:
            return ormsgpack.Ext(EXT_CONSTRUCTOR_KW_ARGS, pack((module, name, {n: getattr(obj, n) for n in names})))

        return encode


_DATETIME_MEMO_SIZE = 4096
_datetime_exts: dict[tuple[datetime, timedelta | None], ormsgpack.Ext] = {}


def _datetime_ext(obj: Any) -> ormsgpack.Ext:
    """A `datetime` (exactly, not a subclass) as LangGraph encodes it: its ISO text, rebuilt by `fromisoformat`.

    Memoized: sessions repeat the same bar times. Two datetimes equal with the same UTC offset have the
    same wall-clock fields, so the same ISO text (`fold` is not part of it).
    """
    key = (obj, obj.utcoffset())
    ext = _datetime_exts.get(key)
    if ext is None:
        text = obj.isoformat()
        ext = ormsgpack.Ext(
            EXT_METHOD_SINGLE_ARG,
            ormsgpack.packb(("datetime", "datetime", text, "fromisoformat"), option=PACK_OPTIONS),
        )
        if len(_datetime_exts) >= _DATETIME_MEMO_SIZE:
            _datetime_exts.clear()
        _datetime_exts[key] = ext
    return ext
