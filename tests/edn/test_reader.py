"""loads and loads_all: what each EDN form reads as, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from jobstreamer.common.edn import (
    Char,
    EDNDecodeError,
    FrozenMap,
    K,
    Keyword,
    List,
    Symbol,
    TaggedLiteral,
    Vector,
    loads,
    loads_all,
)

from ._oracle import normal


def same(actual: Any, expected: Any) -> bool:
    """Equal as EDN values of the same kinds (Python's == mixes 1, 1.0 and True)."""
    return normal(actual) == normal(expected)


def refused(text: str | bytes, **kwargs: Any) -> EDNDecodeError:
    with pytest.raises(EDNDecodeError) as caught:
        loads(text, **kwargs)
    return caught.value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nil", None),
        ("true", True),
        ("false", False),
        ("0", 0),
        ("-0", 0),
        ("+5", 5),
        ("42N", 42),
        ("-9223372036854775809", -9223372036854775809),
        ("123456789012345678901234567890N", 123456789012345678901234567890),
        ("1.5", 1.5),
        ("-1.5e10", -1.5e10),
        ("1E-3", 0.001),
        ("+0.25", 0.25),
        ("45e+43", 45e43),
        ("1.5M", Decimal("1.5")),
        ("7M", Decimal("7")),
        ("-0.000M", Decimal("-0.000")),
        ("45.4E+43M", Decimal("45.4E+43")),
        ("##Inf", float("inf")),
        ("##-Inf", float("-inf")),
    ],
)
def test_scalars(text: str, expected: Any) -> None:
    assert same(loads(text), expected)


def test_nan() -> None:
    value = loads("##NaN")
    assert isinstance(value, float) and value != value


def test_decimals_keep_every_digit() -> None:
    digits = "3.14159265358979323846264338327950288419716939937510582097494459"
    assert loads(digits + "M") == Decimal(digits)


@pytest.mark.parametrize(
    "text",
    ["01", "1.", "1.e5", ".5", "1.5N", "1e", "1e+", "0x10", "1/2", "1a", "1M1", "1.5.5", "1N1",
     "00", "1_000", "-01"],
)
def test_malformed_numbers(text: str) -> None:
    assert "invalid" in refused(text).problem


def test_an_integer_longer_than_python_reads_is_refused() -> None:
    error = refused("[1 " + "9" * 5000 + "]")
    assert error.problem == "integer literal too long" and error.position == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r'""', ""),
        (r'"plain"', "plain"),
        (r'"tab\tnl\ncr\rq\"bs\\b\bf\f"', 'tab\tnl\ncr\rq"bs\\b\bf\f'),
        (r'"\u00e9\u00C9"', "éÉ"),
        (r'"\ud83d\ude00"', "😀"),  # a surrogate pair is one character
        (r'"\ud800"', "\ud800"),  # a lone surrogate stays as Clojure keeps it
        ('"two\nlines"', "two\nlines"),
        ('"é 😀 ;not a comment [ ] { }"', "é 😀 ;not a comment [ ] { }"),
    ],
)
def test_strings(text: str, expected: str) -> None:
    assert loads(text) == expected and type(loads(text)) is str


@pytest.mark.parametrize(
    ("text", "escape", "column"),
    [
        (r'"ab\qc"', r"\q", 4),
        (r'"\x41"', r"\x", 2),
        (r'"\u12"', r"\u", 2),
        (r"""["ok" "\'"]""", r"\'", 8),
    ],
)
def test_a_bad_escape_is_refused_where_it_is(text: str, escape: str, column: int) -> None:
    error = refused(text)
    assert error.problem == f"invalid escape {escape!r} in a string"
    assert (error.line, error.column) == (1, column)


def test_an_unterminated_string_is_refused_where_it_starts() -> None:
    error = refused('[1 "abc')
    assert (error.problem, error.column) == ("unterminated string", 4)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"\c", "c"),
        (r"\newline", "\n"),
        (r"\return", "\r"),
        (r"\space", " "),
        (r"\tab", "\t"),
        (r"\formfeed", "\f"),
        (r"\backspace", "\b"),
        (r"\u00e9", "é"),
        (r"\é", "é"),
        (r"\😀", "😀"),
        (r"\(", "("),
        (r"\\", "\\"),
        (r'\"', '"'),
        (r"\,", ","),
        (r"\;", ";"),
        (r"\u", "u"),
        (r"\n", "n"),
    ],
)
def test_characters(text: str, expected: str) -> None:
    value = loads(text)
    assert type(value) is Char and value == expected


def test_characters_end_at_a_delimiter() -> None:
    expected = Vector((Char("a"), Char("b"), List((Char("c"),)), Char("d")))
    assert same(loads(r"[\a\b(\c)\d;comment" + "\n]"), expected)


@pytest.mark.parametrize("text", ["\\", "\\ ", "\\ab", r"\u12", r"\uZZZZ", r"\newlinex", r"\a#"])
def test_malformed_characters(text: str) -> None:
    assert refused(text).problem.startswith("invalid character")


@pytest.mark.parametrize(
    "name",
    ["a", "a/b", "a.b/c-d", "_x", "*", "a:b", "#foo", "#/:a", "+a", "-", ".a", "?e", "db/id",
     "user/_friends", "éß/λ", "a#b"],
)
def test_keywords(name: str) -> None:
    assert loads(":" + name) is Keyword(name)


@pytest.mark.parametrize(
    "text", [":", "::a", ":/", ":/a", ":a/", ":a/b/c", ":1", ":a:", ":a::b", ":a/1", ":-1", ":a@b"]
)
def test_malformed_keywords(text: str) -> None:
    assert refused(text).problem == f"invalid keyword {text!r}"


@pytest.mark.parametrize(
    "name",
    ["a", "a/b", "/", "-", "+", ".", "-a", "+a", ".a", "a.b", "a#", "a:b", "nil?", "true.",
     "->>", "a/-b", "<=", "?x", "$", "é", "--1", "+-1", "-.5"],
)
def test_symbols(name: str) -> None:
    assert loads(name) is Symbol(name)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("/a", "invalid symbol '/a'"),
        ("a/", "invalid symbol 'a/'"),
        ("a/b/c", "invalid symbol 'a/b/c'"),
        ("a:", "invalid symbol 'a:'"),
        ("a::b", "invalid symbol 'a::b'"),
        ("a/1", "invalid symbol 'a/1'"),
        ("a/:b", "invalid symbol 'a/:b'"),
        ("-1a", "invalid number '-1a'"),
        (".1", "invalid number '.1'"),
        ("@a", "unexpected character '@'"),
        ("~a", "unexpected character '~'"),
        ("'a", "unexpected character \"'\""),
        ("^a", "unexpected character '^'"),
        ("`a", "unexpected character '`'"),
        ("a@b", "invalid symbol 'a@b'"),
    ],
)
def test_malformed_symbols(text: str, problem: str) -> None:
    assert refused(text).problem == problem


def test_a_keyword_made_in_python_with_a_bad_name_is_still_refused() -> None:
    K("bad::name")  # interned; the reader must not take it as known-valid
    assert refused(":bad::name").problem == "invalid keyword ':bad::name'"


def test_collections() -> None:
    value = loads('[1 (2 3) {:a "b"} #{:c} [] () {} #{}]')
    assert type(value) is Vector
    assert [type(v) for v in value] == [int, List, dict, frozenset, Vector, List, dict, frozenset]
    assert value == (1, (2, 3), {K("a"): "b"}, frozenset({K("c")}), (), (), {}, frozenset())


def test_whitespace_commas_and_comments() -> None:
    text = "; leading\r\n{:a 1,, :b\t2 ; trailing\r\n :c [3,4]};end"
    assert loads(text) == {K("a"): 1, K("b"): 2, K("c"): (3, 4)}


class TestHashablePositions:
    """A map that is a map key or set member reads as FrozenMap, recursively."""

    def test_map_as_key_and_member(self) -> None:
        value = loads("{{:a 1} :x} ")
        (key,) = value
        assert type(key) is FrozenMap and key == {K("a"): 1}
        (member,) = loads("#{{:a 1}}")
        assert type(member) is FrozenMap

    def test_nested_inside_a_key(self) -> None:
        value = loads("{[{:a {:b 1}} #{{:c 2}}] :x}")
        (key,) = value
        assert type(key[0]) is FrozenMap and type(key[0][K("a")]) is FrozenMap
        (member,) = key[1]
        assert type(member) is FrozenMap
        hash(key)

    def test_values_stay_dicts(self) -> None:
        value = loads("{:k [{:a 1}] {:key 1} {:value 2}}")
        assert type(value[K("k")][0]) is dict
        assert type(value[FrozenMap({K("key"): 1})]) is dict

    def test_a_tagged_literal_as_key(self) -> None:
        value = loads("{#my/t {:a 1} 1}")
        (key,) = value
        assert key == TaggedLiteral(Symbol("my/t"), {K("a"): 1}) and type(key.value) is FrozenMap

    def test_an_unhashable_tag_result_as_key_is_refused(self) -> None:
        error = refused("#{#my/list 1}", tags={"my/list": lambda v: [v]})
        assert error.problem == "#my/list gave an unhashable list where a key is needed"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("#{1 1}", "set has duplicate member '1'"),
        ("{:a 1 :a 2}", "map has duplicate key ':a'"),
        ("#{[1] (1)}", "set has duplicate member '(1)'"),  # as in Clojure: (= [1] '(1))
        ('#{"a" "a"}', "set has duplicate member '\"a\"'"),
        # Values Python holds equal cannot share a set or map: documented in docs/edn.md.
        ("#{1 true}", "set has duplicate member 'true'"),
        ("{1 :a 1.0 :b}", "map has duplicate key '1.0'"),
        ('#{\\a "a"}', "set has duplicate member '\"a\"'"),
    ],
)
def test_duplicates_are_refused(text: str, problem: str) -> None:
    error = refused(text)
    assert (error.problem, error.position) == (problem, 0)


def test_a_map_needs_pairs() -> None:
    assert refused("[{:a 1 :b}]").problem == "map has an odd number of forms (3)"


class TestDiscard:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("[1 #_ 2 3]", (1, 3)),
            ("[1 #_2 3]", (1, 3)),
            ("[#_ 1]", ()),
            ("[#_ #_ 1 2 3]", (3,)),
            ("[#_ [1 #_ 2] 3]", (3,)),
            ("[#_ ; comment\n 1 2]", (2,)),
            ("[#_ #unknown x 1]", (1,)),
        ],
    )
    def test_in_a_vector(self, text: str, expected: tuple[Any, ...]) -> None:
        assert loads(text) == expected

    def test_in_a_map(self) -> None:
        assert loads("{:a #_ :b 1 #_ :c}") == {K("a"): 1}

    def test_at_top_level(self) -> None:
        assert loads("#_ a") is None
        assert loads("#_ #_ a b c") is Symbol("c")
        assert loads("1 #_ 2") == 1
        assert loads_all("#_ 1") == []

    @pytest.mark.parametrize("text", ["#_", "[1 #_]", "#_ #_ 1", "{:a #_}"])
    def test_with_nothing_to_discard(self, text: str) -> None:
        assert "has no form to discard" in str(refused(text))


class TestInst:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("1985-04-12T23:20:50.52Z", datetime(1985, 4, 12, 23, 20, 50, 520000, UTC)),
            ("1985-04-12T23:20:50.52z", datetime(1985, 4, 12, 23, 20, 50, 520000, UTC)),
            ("1985-04-12T23:20:50.123456789Z", datetime(1985, 4, 12, 23, 20, 50, 123456, UTC)),
            ("1985-04-12T23:20:50-00:00", datetime(1985, 4, 12, 23, 20, 50, tzinfo=UTC)),
            (
                "1985-04-12T23:20:50.52-05:00",
                datetime(1985, 4, 12, 23, 20, 50, 520000, timezone(-timedelta(hours=5))),
            ),
            ("1985-04-12T23:20", datetime(1985, 4, 12, 23, 20, tzinfo=UTC)),
            ("1985-04-12", datetime(1985, 4, 12, tzinfo=UTC)),
            ("1985-04", datetime(1985, 4, 1, tzinfo=UTC)),
            ("1985", datetime(1985, 1, 1, tzinfo=UTC)),
        ],
    )
    def test_forms(self, text: str, expected: datetime) -> None:
        value = loads(f'#inst "{text}"')
        assert value == expected and value.utcoffset() == expected.utcoffset()

    @pytest.mark.parametrize("text", ['"1985-13-01"', '"nonsense"', '""', "42", '"1985-04-12T25:00Z"'])
    def test_malformed(self, text: str) -> None:
        error = refused(f"[#inst {text}]")
        assert (error.problem, error.position) == ("cannot read #inst", 1)


class TestUuid:
    def test_reads(self) -> None:
        text = "FB20D6AB-c4e8-4404-b0df-885f58e3f682"
        assert loads(f'#uuid "{text}"') == UUID(text)

    @pytest.mark.parametrize(
        "text", ['"fb20d6abc4e84404b0df885f58e3f682"', '"{fb20d6ab-c4e8-4404-b0df-885f58e3f682}"', "1"]
    )
    def test_only_the_canonical_form(self, text: str) -> None:
        assert refused(f"#uuid {text}").problem == "cannot read #uuid"


class TestTags:
    def test_an_unknown_tag_reads_as_tagged_literal(self) -> None:
        assert loads("#my/tag [1 2]") == TaggedLiteral(Symbol("my/tag"), Vector((1, 2)))
        assert loads('#inst"1985"') == datetime(1985, 1, 1, tzinfo=UTC)  # no space needed

    def test_nested_tags_and_discards(self) -> None:
        a, b = Symbol("a"), Symbol("b")
        assert loads("#a #b 1") == TaggedLiteral(a, TaggedLiteral(b, 1))
        assert loads("#a #_ 1 2") == TaggedLiteral(a, 2)

    def test_readers_per_call(self) -> None:
        assert loads("#point [1 2]", tags={"point": lambda v: complex(*v)}) == 1 + 2j
        assert loads('#inst "1985"', tags={"inst": str}) == "1985"

    def test_readers_registered(self) -> None:
        from jobstreamer.common.edn import register_tag, unregister_tag

        register_tag("test/twice", lambda v: v * 2)
        try:
            assert loads("#test/twice 21") == 42
            assert loads("#test/twice 21", tags={"test/twice": lambda v: -v}) == -21
        finally:
            unregister_tag("test/twice")
        assert loads("#test/twice 21") == TaggedLiteral(Symbol("test/twice"), 21)

    @pytest.mark.parametrize("tag", ["inst", "uuid", "1a", "a/", "_x", ""])
    def test_register_refuses_builtin_or_malformed_names(self, tag: str) -> None:
        from jobstreamer.common.edn import register_tag, unregister_tag

        with pytest.raises(ValueError):
            register_tag(tag, str)
        if tag in ("inst", "uuid"):
            with pytest.raises(ValueError):
                unregister_tag(tag)

    def test_a_failing_reader_is_a_decode_error(self) -> None:
        def boom(value: Any) -> Any:
            raise RuntimeError("no points today")

        error = refused("[1\n #point [1 2]]", tags={"point": boom})
        assert str(error) == "cannot read #point at line 2, column 2: no points today"
        assert isinstance(error.__cause__, RuntimeError)

    @pytest.mark.parametrize("text", ["#", "#:a{}", "#1a 1", "#a/ 1", "## 1", "##inf", "#<x> 1"])
    def test_malformed_tags(self, text: str) -> None:
        assert refused(text).problem.startswith("invalid tag or dispatch")

    @pytest.mark.parametrize("text", ["#a", "[#a]", "{:k #a}"])
    def test_a_tag_needs_a_form(self, text: str) -> None:
        assert "#a at line 1" in str(refused(text)) and "has no form to tag" in str(refused(text))


class TestTopLevel:
    def test_one_form_with_whitespace_and_comments_around(self) -> None:
        assert loads("  ; hi\n [1] ; bye") == (1,)

    def test_no_form_is_none(self) -> None:
        assert loads("") is None and loads(" ,\n; only a comment") is None

    def test_a_second_form_is_refused(self) -> None:
        error = refused("[1 2]\n  {:a 1}")
        assert str(error) == "unexpected '{' at line 2, column 3: expected a single form"
        assert error.position == 8

    def test_loads_all(self) -> None:
        assert loads_all("1 [2] #_ 3 ; c\n :k") == [1, (2,), K("k")]
        assert loads_all(" ") == []


class TestInput:
    def test_bytes(self) -> None:
        assert loads('{:a "é"}'.encode()) == {K("a"): "é"}
        assert loads(bytearray(b"[1]")) == (1,)
        assert loads(memoryview(b"[1]")) == (1,)

    def test_bytes_that_are_not_utf8(self) -> None:
        error = refused(b'["\xc3\xa9" "\xff"]')
        assert (error.problem, error.position, error.column) == ("input is not UTF-8", 6, 7)

    def test_other_types_are_a_type_error(self) -> None:
        with pytest.raises(TypeError, match="EDN text must be str or bytes, not int"):
            loads(42)  # type: ignore[arg-type]


class TestErrors:
    def test_is_a_bad_request(self) -> None:
        from jobstreamer.common.errors import BadRequest

        error = refused("]")
        assert isinstance(error, BadRequest) and error.status == 400

    def test_position_line_and_column(self) -> None:
        error = refused("[1 2\n  ]]")
        assert (error.position, error.line, error.column) == (8, 2, 4)
        assert str(error) == "unexpected ']' at line 2, column 4"

    def test_columns_count_characters(self) -> None:
        assert refused('["é" @]').column == 6

    def test_mismatched_closer_names_the_open_one(self) -> None:
        error = refused("{:a [1 2\n :b 3}")
        assert str(error) == (
            "unexpected '}' at line 2, column 6: the '[' at line 1, column 5 is not closed"
        )

    def test_end_of_input_names_the_open_one(self) -> None:
        error = refused("[1 #{2")
        assert str(error) == (
            "unexpected end of input at line 1, column 7: the '#{' at line 1, column 4 is not closed"
        )
        assert error.position == 6

    @pytest.mark.parametrize("text", ["}", ")", "]", "[)", "(]", "{]", "#{)", "[1 2))"])
    def test_unmatched_closers(self, text: str) -> None:
        assert refused(text).problem.startswith("unexpected ")


class TestLimits:
    def test_depth_up_to_the_limit_reads(self) -> None:
        assert loads("[" * 512 + "]" * 512) is not None
        assert loads("[[[]]]", max_depth=3) == (((),),)

    def test_depth_beyond_the_limit_is_refused(self) -> None:
        error = refused("[" * 513 + "]" * 513)
        assert (error.problem, error.position) == ("nesting deeper than max_depth (512)", 512)
        assert refused("[[[[]]]]", max_depth=3).position == 3

    @pytest.mark.parametrize("opener", ["#a ", "#_ ", "{:k ", "#{", "("])
    def test_every_kind_of_nesting_counts(self, opener: str) -> None:
        assert refused(opener * 5 + "1", max_depth=4).problem.startswith("nesting deeper")

    def test_very_deep_input_never_recurses(self) -> None:
        from jobstreamer.common.edn import dumps

        text = "[" * 20_000 + "]" * 20_000  # 20 times Python's recursion limit
        assert dumps(loads(text, max_depth=20_000)) == text
        assert refused("[" * 20_000).problem == "nesting deeper than max_depth (512)"

    def test_length(self) -> None:
        assert loads("[1 2]", max_length=5) == (1, 2)
        error = refused("[1 2 ]", max_length=5)
        assert (error.problem, error.position) == ("input longer than max_length (5 characters)", 5)
        assert refused(b"[1 2 ]", max_length=5).problem.startswith("input longer")
        assert loads("[" + "1 " * 100 + "]", max_length=None) is not None

    @pytest.mark.parametrize("depth", [0, -1, 1.5, None])
    def test_max_depth_must_be_a_positive_int(self, depth: Any) -> None:
        with pytest.raises(ValueError, match="max_depth"):
            loads("1", max_depth=depth)
