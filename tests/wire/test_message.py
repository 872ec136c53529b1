from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from jobstreamer.common.edn import K
from jobstreamer.common.errors import BadRequest
from jobstreamer.common.wire._message import Codec, Message, edn_field, integer, kind_field, string


def _optional_string(value: object) -> str | None:
    return None if value is None else string(value)


@dataclass(frozen=True)
class Greeting(Message):
    to: str = edn_field("greeting/to", string)
    note: str | None = edn_field("greeting/note", _optional_string)
    times: int = edn_field("greeting/times", integer, lambda n: n * 1)
    kind: Literal["hello"] = kind_field("hello")


CODEC: Codec[Greeting] = Codec("greeting/op", Greeting)


def test_a_field_whose_decoder_takes_nil_is_optional() -> None:
    assert CODEC.decode('{:greeting/op :hello :greeting/to "you" :greeting/times 2}') == Greeting("you", None, 2)
    with pytest.raises(BadRequest, match="hello message lacks :greeting/to") as caught:
        CODEC.decode("{:greeting/op :hello :greeting/times 2}")
    assert caught.value.field == K("greeting/to")


def test_the_tag_keyword_is_the_codecs() -> None:
    message = Greeting("you", "hi", 1)
    assert message.to_edn() == {K("greeting/to"): "you", K("greeting/note"): "hi", K("greeting/times"): 1}
    assert CODEC.decode(CODEC.encode(message)) == message
    with pytest.raises(BadRequest, match="message lacks :greeting/op"):
        CODEC.decode('{:command :hello :greeting/to "you" :greeting/times 2}')
