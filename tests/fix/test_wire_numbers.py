"""Numbers from the wire: valid FIX of any size, refused where the arithmetic cannot
follow, naming the tag (OMS orders in `sor_daemon.core.intake`, venue reports here)."""

from decimal import Decimal

import pytest

from sor_daemon.core.domain import MAX_WHOLE_DIGITS, wire_decimal
from sor_daemon.core.messages import NewOrderFields
from sor_daemon.fix.codec import DecodeError, decode_execution_report, parse
from sor_sim.validation import Rejection, validate_new_order

HUGE = "1" + "0" * 40
"""Valid FIX; 41 digits, past the 28 of decimal's default context."""


def report(**changed: str) -> str:
    fields = {37: "V1", 11: "C1", 17: "E1", 150: "F", 39: "1", 55: "AAPL", 54: "1",
              38: "100", 151: "50", 14: "50", 6: "190", 32: "50", 31: "190"}
    fields.update({int(tag[1:]): value for tag, value in changed.items()})
    return "8=FIX.4.4\x0135=8\x01" + "".join(f"{t}={v}\x01" for t, v in fields.items())


@pytest.mark.parametrize("text", ["999999999999999", "0.000000000000000000000000000001",
                                  "190.00000000000000000000000001", "0", "-5"])
def test_numbers_in_range_are_taken_exactly(text: str):
    assert wire_decimal(text) == Decimal(text)


@pytest.mark.parametrize(("text", "why"), [
    (HUGE, "out of range"), ("1" + "0" * MAX_WHOLE_DIGITS, "out of range"),
    ("-" + HUGE, "out of range"), ("1E+40", "out of range"), ("NaN", "not a finite"),
    ("Infinity", "not a finite"), ("1,5", "not a number")])
def test_numbers_out_of_range_or_not_numbers_say_why(text: str, why: str):
    with pytest.raises(ValueError, match=why):
        wire_decimal(text)


@pytest.mark.parametrize("tag", [31, 32, 14, 38, 151, 6, 44])
def test_a_venue_report_with_a_number_out_of_range_is_undecodable_naming_the_tag(tag: int):
    assert decode_execution_report(parse(report())).last_px == Decimal(190)
    with pytest.raises(DecodeError, match=f"tag {tag} is out of range"):
        decode_execution_report(parse(report(**{f"t{tag}": HUGE})))


@pytest.mark.parametrize(("field", "tag"), [("min_qty", "MinQty (110)"),
                                            ("max_floor", "MaxFloor (111)")])
def test_a_venue_refuses_an_optional_quantity_out_of_range_naming_it(field: str, tag: str):
    order = NewOrderFields("C1", "AAPL", "1", "100", "2", "190.00", "0", **{field: HUGE})
    refused = validate_new_order(order, {"AAPL": Decimal("0.01")}, {})
    assert isinstance(refused, Rejection) and refused.text.startswith(f"{tag} is out of range")
