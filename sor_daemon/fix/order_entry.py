"""Order entry over FIX, one codec for every side that takes orders (the OMS gateway, the
simulated venues and brokers): requests D, F, G, H in; reports 8, 9, j out."""

from __future__ import annotations

from collections.abc import Callable

from sor_daemon.core.messages import (
    BusinessReject,
    CancelFields,
    CancelReject,
    ExecutionReport,
    NewOrderFields,
    ReplaceFields,
    StatusFields,
)
from sor_daemon.fix import codec
from sor_daemon.fix.codec import FixMessage, Pairs

OrderRequest = NewOrderFields | CancelFields | ReplaceFields | StatusFields
Report = ExecutionReport | CancelReject | BusinessReject

_DECODERS: dict[str, Callable[[FixMessage], OrderRequest]] = {
    "D": codec.decode_new_order,
    "F": codec.decode_cancel,
    "G": codec.decode_replace,
    "H": codec.decode_status,
}
REQUEST_TYPES = frozenset(_DECODERS)


def decode_request(message: FixMessage) -> OrderRequest | None:
    """The order-entry request a message carries; None: another MsgType."""
    decode = _DECODERS.get(message.msg_type)
    return None if decode is None else decode(message)


def encode_report(message: Report) -> tuple[str, Pairs]:
    """The FIX message type and fields of a report to whoever sent the order."""
    if isinstance(message, ExecutionReport):
        return "8", codec.encode_execution_report(message)
    if isinstance(message, BusinessReject):
        return "j", codec.encode_business_reject(message.ref_seq_num, message.ref_msg_type,
                                                 message.reason, message.text)
    return "9", codec.encode_cancel_reject(message)
