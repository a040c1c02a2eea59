"""Values that were not UTF-8 on the wire, as quickfix's binding hands them over, and
passwords masked wherever a message is written."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sor_daemon.fix.codec import MASK, masked, parse, readable, undecodable_tag


def wire(data: bytes) -> str:
    """What quickfix's SWIG binding makes of bytes: UTF-8 with ``surrogateescape``."""
    return data.decode("utf-8", "surrogateescape")


def test_the_first_field_that_is_not_utf8_is_named():
    raw = wire(b"8=FIX.4.4\x0135=D\x0111=\xe9\xff\x0158=caf\xe9\x01")
    assert undecodable_tag(raw) == 11
    assert undecodable_tag(wire(b"35=D\x0158=caf\xe9\x0110=000\x01")) == 58


def test_ascii_and_valid_utf8_pass():
    assert undecodable_tag("8=FIX.4.4\x0135=D\x01") is None
    assert undecodable_tag(wire("35=D\x0158=café 東京\x01".encode())) is None


def test_bad_bytes_outside_a_value_are_tag_zero():
    assert undecodable_tag(wire(b"35=D\x01\xe9=1\x01")) == 0
    assert undecodable_tag(wire(b"\xe9")) == 0


def test_readable_escapes_exactly_the_bad_bytes():
    assert readable(wire(b"58=caf\xe9 \xc3\xa9\x01")) == "58=caf\\xe9 é\x01"
    assert readable("35=D\x01") == "35=D\x01"
    assert readable(wire(b"58=caf\xe9")).encode()  # encodable: JSON and logs take it


# ---------------------------------------------------------------------- passwords


def message(msg_type: str, *fields: tuple[int, str], separator: str = "\x01") -> str:
    pairs = [(8, "FIX.4.4"), (9, "99"), (35, msg_type), (34, "2"), *fields, (10, "123")]
    return "".join(f"{tag}={value}{separator}" for tag, value in pairs)


def test_logon_password_and_raw_data_are_masked_keeping_every_other_field():
    logon = message("A", (98, "0"), (108, "30"), (95, "12"), (96, "tok\x01en=\x0110=x"),
                    (553, "desk1"), (554, "s3cret"), (141, "Y"))
    out = masked(logon)
    assert out == message("A", (98, "0"), (108, "30"), (95, str(len(MASK))), (96, MASK),
                          (553, "desk1"), (554, MASK), (141, "Y"))
    assert parse(out).get(553) == "desk1"  # still tag=value throughout


def test_a_user_request_new_password_is_masked():
    out = masked(message("BE", (923, "U1"), (924, "3"), (554, "old-pw"), (925, "new-pw")))
    assert out == message("BE", (923, "U1"), (924, "3"), (554, MASK), (925, MASK))


def test_other_messages_are_returned_as_they_are():
    order = message("D", (11, "C1"), (58, "554=not a password"), (96, "x"))
    assert masked(order) is order


def test_a_stored_text_masks_a_value_holding_the_separator():
    stored = message("A", (553, "u"), (554, "pa|ss|word"), (108, "30"), separator="|")
    assert masked(stored, "|") == message("A", (553, "u"), (554, MASK), (108, "30"),
                                          separator="|")


@pytest.mark.parametrize("text", ["", "35=A", "\x0135=A\x01554", "\x0135=A\x01554=",
                                  "\x0135=A\x0195=x\x0196=", "\x0135=A\x0195=99\x0196=ab",
                                  "\x0135=A\x0195=\u00b2\x0196=ab\x01"])
def test_fragments_never_raise(text: str):
    assert "ab" not in masked(text)


SECRET = st.text(st.sampled_from("QWZJ \x01|=\u00fc"), min_size=1).map(lambda v: "Q" + v)
"""Letters no other field has, the separators, and "=": whatever is left shows."""


@given(secret=SECRET, separator=st.sampled_from(["\x01", "|"]),
       tag=st.sampled_from([554, 925, 96]))
def test_no_secret_survives(secret: str, separator: str, tag: int):
    """Whatever the value holds (the separator included), none of it is left."""
    fields = [(553, "desk1"), (tag, secret), (108, "30")]
    if tag == 96:
        fields.insert(0, (95, str(len(secret.encode()))))
    out = masked(message("A", *fields, separator=separator), separator)
    assert not set("QWZJ\u00fc") & set(out), out
    assert out.endswith(f"108=30{separator}10=123{separator}")
