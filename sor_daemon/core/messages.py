"""Order-entry messages as plain data, independent of the FIX engine.

The adapters turn FIX into these and back; the core and the simulated venues speak
only these. ``*Fields`` classes are inbound requests before validation: every value is
the raw tag text (or None when absent), so that intake can say precisely what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sor_daemon.core.domain import (
    CxlRejReason,
    CxlRejResponseTo,
    ExecType,
    LiquidityInd,
    OrdRejReason,
    OrdStatus,
    OrdType,
    Side,
    TimeInForce,
)


@dataclass(frozen=True, slots=True)
class NewOrderFields:
    cl_ord_id: str
    symbol: str | None
    side: str | None
    order_qty: str | None
    ord_type: str | None
    price: str | None = None
    tif: str | None = None
    ex_destination: str | None = None
    target_strategy: str | None = None
    min_qty: str | None = None
    exec_inst: str | None = None
    max_floor: str | None = None
    poss_dup: bool = False
    """PossDupFlag (43): the OMS may have sent it before (a FIX resend)."""


@dataclass(frozen=True, slots=True)
class CancelFields:
    cl_ord_id: str
    orig_cl_ord_id: str
    symbol: str | None = None
    side: str | None = None


@dataclass(frozen=True, slots=True)
class ReplaceFields:
    cl_ord_id: str
    orig_cl_ord_id: str
    symbol: str | None
    side: str | None
    order_qty: str | None
    ord_type: str | None
    price: str | None = None
    tif: str | None = None


@dataclass(frozen=True, slots=True)
class StatusFields:
    cl_ord_id: str | None
    order_id: str | None = None
    ord_status_req_id: str | None = None
    seq_num: str | None = None
    """The request's MsgSeqNum (34): what a BusinessMessageReject refers to."""
    symbol: str | None = None
    side: str | None = None


@dataclass(frozen=True, slots=True)
class BusinessReject:
    """A BusinessMessageReject (j): a request refused with no order state to report."""

    ref_seq_num: str | None
    ref_msg_type: str
    reason: int
    """BusinessRejectReason (380): 0 other, 3 unsupported message type."""
    text: str


@dataclass(frozen=True, slots=True)
class NewOrder:
    """A validated order: a parent from the OMS, or a child on its way to a venue."""

    cl_ord_id: str
    symbol: str
    side: Side
    qty: int
    ord_type: OrdType
    price: Decimal | None
    tif: TimeInForce
    ex_destination: str | None = None
    target_strategy: int | None = None
    min_qty: int | None = None
    """MinQty (110): the smallest execution accepted (dark pools)."""
    post_only: bool = False
    """ExecInst (18) 6, participate don't initiate: refused rather than trade on arrival."""
    display_qty: int | None = None
    """MaxFloor (111): the most shown at once (iceberg); None shows everything."""


@dataclass(frozen=True, slots=True)
class CancelOrder:
    cl_ord_id: str
    orig_cl_ord_id: str
    symbol: str
    side: Side
    qty: int


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    order_id: str
    cl_ord_id: str
    exec_id: str
    exec_type: ExecType
    ord_status: OrdStatus
    symbol: str
    side: Side | str
    """A `Side`, or the request's text echoed back by a report about an order that does not
    exist (`refusal_report`); so are OrderQty, OrdType, Price and TimeInForce."""
    order_qty: int | str
    leaves_qty: int
    cum_qty: int
    avg_px: Decimal
    ord_type: OrdType | str | None = None
    price: Decimal | str | None = None
    tif: TimeInForce | str | None = None
    orig_cl_ord_id: str | None = None
    last_qty: int = 0
    last_px: Decimal | None = None
    last_mkt: str | None = None
    ord_rej_reason: OrdRejReason | None = None
    text: str | None = None
    benchmark_price: Decimal | None = None
    """The NBBO mid when the parent arrived (BenchmarkPrice, 662), for slippage."""
    ord_status_req_id: str | None = None
    commission: Decimal | None = None
    """Commission (12), CommType 3 (absolute): the venue's fee on this fill, negative for
    a rebate."""
    liquidity: LiquidityInd | None = None


@dataclass(frozen=True, slots=True)
class CancelReject:
    order_id: str
    cl_ord_id: str
    orig_cl_ord_id: str
    ord_status: OrdStatus
    response_to: CxlRejResponseTo
    reason: CxlRejReason
    text: str


NO_ORDER_ID = "NONE"
STATUS_EXEC_ID = "0"
"""The ExecID (17) of every status reply (ExecType I): FIX 4.4 says 0, for it reports no
execution. Never a key: replies to two requests carry the same one."""


NO_SYMBOL = "[N/A]"
"""Symbol (55) when the request had none: FIX 4.4's value for "no symbol"."""


def refusal_report(
    exec_id: str,
    cl_ord_id: str | None,
    reason: OrdRejReason,
    text: str,
    *,
    request: NewOrderFields | StatusFields | None = None,
    order_id: str | None = None,
    exec_type: ExecType = ExecType.REJECTED,
    status_req_id: str | None = None,
) -> ExecutionReport:
    """An ExecutionReport about an order that does not exist: a refused new order, or a
    status request for an unknown one (ExecID `STATUS_EXEC_ID`, whatever ``exec_id``).

    It echoes the order's terms as the request carried them (Symbol, Side, OrderQty,
    OrdType, Price, TimeInForce): text as received, which need not be anything this
    router supports; the codec leaves out what FIX does not allow in a tag. What the
    request lacked: Symbol `NO_SYMBOL`, OrderQty 0, the others absent."""
    if exec_type is ExecType.ORDER_STATUS:
        exec_id = STATUS_EXEC_ID
    new = request if isinstance(request, NewOrderFields) else None
    return ExecutionReport(
        order_id=order_id or NO_ORDER_ID, cl_ord_id=cl_ord_id or NO_ORDER_ID, exec_id=exec_id,
        exec_type=exec_type, ord_status=OrdStatus.REJECTED,
        symbol=(request and request.symbol) or NO_SYMBOL,
        side=(request and request.side) or "",
        order_qty=(new and new.order_qty) or 0, leaves_qty=0, cum_qty=0, avg_px=Decimal(0),
        ord_type=new and new.ord_type, price=new and new.price, tif=new and new.tif,
        ord_rej_reason=reason, text=text, ord_status_req_id=status_req_id,
    )
