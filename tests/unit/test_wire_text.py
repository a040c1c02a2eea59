"""Values that were not UTF-8 on the wire, as quickfix's binding hands them over."""

from sor_daemon.fix.codec import readable, undecodable_tag


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
