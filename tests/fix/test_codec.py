"""Reports about orders that do not exist (refusals, status replies for unknown orders)
echo the request as received, and stay messages quickfix's FIX 4.4 dictionary accepts."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import quickfix as fix
from hypothesis import given
from hypothesis import strategies as st

from sor_daemon.core.domain import ExecType, OrdRejReason
from sor_daemon.core.messages import NewOrderFields, StatusFields, refusal_report
from sor_daemon.fix import codec
from sor_daemon.fix.codec import SOH, Pairs, encode_execution_report
from sor_daemon.fix.dictionary import installed_fix44

DICTIONARY = fix.DataDictionary(str(installed_fix44()))
ECHOED = (55, 54, 38, 40, 44, 59)


def accepted(pairs: Pairs) -> None:
    """Raises unless quickfix's FIX44 dictionary accepts an ExecutionReport of ``pairs``
    (what the OMS's engine checks on receipt)."""
    body = f"35=8{SOH}49=SOR{SOH}56=OMS{SOH}34=2{SOH}52={codec.utc_timestamp()}{SOH}"
    body += "".join(f"{tag}={value}{SOH}" for tag, value in pairs)
    head = f"8=FIX.4.4{SOH}9={len(body.encode())}{SOH}"
    checksum = sum((head + body).encode()) % 256
    DICTIONARY.validate(fix.Message(f"{head}{body}10={checksum:03d}{SOH}", DICTIONARY, True))


def echoed(pairs: Pairs) -> dict[int, str | None]:
    found = dict(pairs)
    return {tag: found.get(tag) for tag in ECHOED}


def test_a_reject_echoes_what_the_order_carried():
    # All valid FIX 4.4, none of it supported by the router.
    request = NewOrderFields("C1", "SPY", "5", "100.5", "3", "-1", "6")
    pairs = encode_execution_report(refusal_report(
        "E1", "C1", OrdRejReason.OTHER, "refused", request=request))
    assert echoed(pairs) == {55: "SPY", 54: "5", 38: "100.5", 40: "3", 44: "-1", 59: "6"}
    accepted(pairs)


def test_a_status_reply_for_an_unknown_order_echoes_the_request():
    request = StatusFields("C1", symbol="SPY", side="2", ord_status_req_id="Q1")
    pairs = encode_execution_report(refusal_report(
        "E1", "C1", OrdRejReason.UNKNOWN_ORDER, "unknown order", request=request,
        exec_type=ExecType.ORDER_STATUS, status_req_id="Q1"))
    assert echoed(pairs) == {55: "SPY", 54: "2", 38: "0", 40: None, 44: None, 59: None}
    assert (dict(pairs)[17], dict(pairs)[150]) == ("0", "I")
    accepted(pairs)


def test_what_fix_does_not_allow_in_a_tag_is_not_echoed_there():
    request = NewOrderFields("C1", None, "Z", "1e3", "Q", "12,5", "X")
    pairs = encode_execution_report(refusal_report(
        "E1", "C1", OrdRejReason.OTHER, "refused", request=request))
    # Required: Symbol "[N/A]" (FIX's own for none), Side 7 (undisclosed), OrderQty 0.
    assert echoed(pairs) == {55: "[N/A]", 54: "7", 38: "0", 40: None, 44: None, 59: None}
    accepted(pairs)


FIELD_TEXT = st.one_of(st.none(), st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12),
    st.sampled_from(["1", "2", "5", "100", "-5", "0.5", ".5", "5.", "-", "", "3", "6"]))


@given(FIELD_TEXT, FIELD_TEXT, FIELD_TEXT, FIELD_TEXT, FIELD_TEXT, FIELD_TEXT)
def test_whatever_the_request_carried_the_report_is_valid_fix44(
        symbol: str | None, side: str | None, qty: str | None, ord_type: str | None,
        price: str | None, tif: str | None):
    request = NewOrderFields("C1", symbol, side, qty, ord_type, price, tif)
    pairs = encode_execution_report(refusal_report(
        "E1", "C1", OrdRejReason.OTHER, "refused", request=request))
    accepted(pairs)
    sent = dict(zip(ECHOED, (symbol, side, qty, ord_type, price, tif), strict=True))
    for tag, value in echoed(pairs).items():
        assert value == sent[tag] or value in ("[N/A]", "7", "0", None), (tag, value)


def test_the_values_checked_are_fix44s():
    root = ET.parse(installed_fix44()).getroot()
    enums = {int(f.get("number")): frozenset(v.get("enum") for v in f)
             for f in root.iter("field") if f.get("number") in ("54", "40", "59")}
    assert enums == codec.FIX44_ENUMS
