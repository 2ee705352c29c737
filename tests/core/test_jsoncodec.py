"""The JSON codec answers as the standard library does: the same values read
from any text ``json.dumps`` wrote, and text that reads back as the value."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from crmcore import jsoncodec

VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=8)


def same(a: object, b: object) -> bool:
    """Equal, with NaN equal to NaN and 1 never equal to 1.0 or True."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True) and \
        type(a) is type(b)


@given(VALUES)
@example(2**64)  # orjson reads it as a float
@example(-(2**63) - 1)
@example(float("nan"))  # json.dumps writes NaN, which orjson refuses to read
@example(["\ud800"])  # a lone surrogate: orjson neither reads nor writes it
@example({"a": [1, 2.5, "é"]})
def test_the_codec_reads_what_json_dumps_wrote_as_json_loads_does(value):
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        assert same(jsoncodec.loads(text), json.loads(text))
        assert same(jsoncodec.loads(text.encode("utf-8", "surrogatepass")),
                    json.loads(text.encode("utf-8", "surrogatepass")))


@given(VALUES.filter(lambda v: "NaN" not in json.dumps(v) and "Infinity" not in json.dumps(v)))
@example(2**70)
@example({"n": -(2**63) - 1, "s": "\udfff"})
def test_what_the_codec_writes_reads_back_as_the_value(value):
    text = jsoncodec.dumps(value)
    assert same(json.loads(text), value)
    assert same(jsoncodec.loads(text), value)


def test_the_codec_refuses_what_json_refuses():
    with pytest.raises(TypeError):
        jsoncodec.dumps({"at": datetime(2026, 1, 1)})
    with pytest.raises(ValueError):
        jsoncodec.loads("{bad")


def test_int_keys_are_written_as_json_writes_them():
    assert json.loads(jsoncodec.dumps({1: "a"})) == {"1": "a"}


def test_nan_and_infinity_are_written_as_null():
    assert jsoncodec.dumps([float("nan"), float("-inf")]) == "[null,null]"
