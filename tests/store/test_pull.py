"""Pull API, ported case by case from DataScript test/pull_api.cljc and pull_parser.cljc."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobstreamer.common.edn import K, Symbol, loads
from jobstreamer.common.store._pull import pull, pull_many
from jobstreamer.common.store._pull_pattern import (
    COMPONENT_PATTERN,
    DEFAULT_LIMIT,
    REF_PATTERN,
    PullAttr,
    PullPattern,
    parse,
)
from jobstreamer.common.store._schema import Schema
from jobstreamer.common.store.errors import QueryError
from jobstreamer.common.store.query._builtins import BUILTINS

from ._dbs import db_with, init_db
from ._fake import FakeDb

SCHEMA = loads(
    """{:name   {:db/unique :db.unique/identity}
        :aka    {:db/cardinality :db.cardinality/many}
        :child  {:db/cardinality :db.cardinality/many :db/valueType :db.type/ref}
        :friend {:db/cardinality :db.cardinality/many :db/valueType :db.type/ref}
        :enemy  {:db/cardinality :db.cardinality/many :db/valueType :db.type/ref}
        :father {:db/valueType :db.type/ref}
        :part   {:db/valueType :db.type/ref :db/isComponent true :db/cardinality :db.cardinality/many}
        :spec   {:db/valueType :db.type/ref :db/isComponent true :db/cardinality :db.cardinality/one}}"""
)

DATOMS: list[tuple[int, str, Any]] = [
    (1, "name", "Petr"),
    (1, "aka", "Devil"),
    (1, "aka", "Tupen"),
    (2, "name", "David"),
    (3, "name", "Thomas"),
    (4, "name", "Lucy"),
    (5, "name", "Elizabeth"),
    (6, "name", "Matthew"),
    (7, "name", "Eunan"),
    (8, "name", "Kerri"),
    (9, "name", "Rebecca"),
    (1, "child", 2),
    (1, "child", 3),
    (2, "father", 1),
    (3, "father", 1),
    (6, "father", 3),
    (10, "name", "Part A"),
    (11, "name", "Part A.A"),
    (10, "part", 11),
    (12, "name", "Part A.A.A"),
    (11, "part", 12),
    (13, "name", "Part A.A.A.A"),
    (12, "part", 13),
    (14, "name", "Part A.A.A.B"),
    (12, "part", 14),
    (15, "name", "Part A.B"),
    (10, "part", 15),
    (16, "name", "Part A.B.A"),
    (15, "part", 16),
    (17, "name", "Part A.B.A.A"),
    (16, "part", 17),
    (18, "name", "Part A.B.A.B"),
    (16, "part", 18),
]


def edn(text: str) -> Any:
    """Expected values read as EDN, with vectors as lists (what pull returns)."""
    return _lists(loads(text))


def _lists(x: Any) -> Any:
    if isinstance(x, tuple):
        return [_lists(i) for i in x]
    if isinstance(x, dict):
        return {_lists(k): _lists(v) for k, v in x.items()}
    return x


@pytest.fixture(scope="module")
def db():
    return init_db(SCHEMA, DATOMS)


# -- pull_api.cljc ----------------------------------------------------------


def test_pull_attr_spec(db):
    assert pull(db, "[:name :aka]", 1) == edn('{:name "Petr" :aka ["Devil" "Tupen"]}')
    assert pull(db, "[:name :father :db/id]", 6) == edn('{:name "Matthew" :father {:db/id 3} :db/id 6}')
    assert pull_many(db, "[:name]", [1, 5, 7, 9]) == edn(
        '[{:name "Petr"} {:name "Elizabeth"} {:name "Eunan"} {:name "Rebecca"}]'
    )


def test_pull_reverse_attr_spec(db):
    assert pull(db, "[:name :_child]", 2) == edn('{:name "David" :_child [{:db/id 1}]}')
    assert pull(db, "[:name {:_child [:name]}]", 2) == edn('{:name "David" :_child [{:name "Petr"}]}')
    # Reverse non-component references yield collections
    assert pull(db, "[:name :_father]", 3) == edn('{:name "Thomas" :_father [{:db/id 6}]}')
    assert pull(db, "[:name :_father]", 1) == edn('{:name "Petr" :_father [{:db/id 2} {:db/id 3}]}')
    assert pull(db, "[:name {:_father [:name]}]", 3) == edn('{:name "Thomas" :_father [{:name "Matthew"}]}')
    assert pull(db, "[:name {:_father [:name]}]", 1) == edn(
        '{:name "Petr" :_father [{:name "David"} {:name "Thomas"}]}'
    )
    # Multiple reverse refs (DataScript issue-412)
    assert pull(db, "[:name :_father :_child]", 1) == edn('{:name "Petr" :_father [{:db/id 2} {:db/id 3}]}')


PARTS = """
{:name "Part A",
 :part [{:db/id 11 :name "Part A.A",
         :part [{:db/id 12 :name "Part A.A.A",
                 :part [{:db/id 13 :name "Part A.A.A.A"} {:db/id 14 :name "Part A.A.A.B"}]}]}
        {:db/id 15 :name "Part A.B",
         :part [{:db/id 16 :name "Part A.B.A",
                 :part [{:db/id 17 :name "Part A.B.A.A"} {:db/id 18 :name "Part A.B.A.B"}]}]}]}
"""


def test_pull_component_attr(db):
    # Component entities are expanded recursively
    assert pull(db, "[:name :part]", 10) == edn(PARTS)
    # Reverse component references yield a single result
    assert pull(db, "[:name :_part]", 11) == edn('{:name "Part A.A" :_part {:db/id 10}}')
    assert pull(db, "[:name {:_part [:name]}]", 11) == edn('{:name "Part A.A" :_part {:name "Part A"}}')
    # Reverse recursive component (issue-411)
    assert pull(db, "[:name {:_part ...}]", 14) == edn(
        '{:name "Part A.A.A.B" :_part {:name "Part A.A.A" :_part {:name "Part A.A" :_part {:name "Part A"}}}}'
    )
    assert pull(db, "[:name {:_part 2}]", 14) == edn(
        '{:name "Part A.A.A.B" :_part {:name "Part A.A.A" :_part {:name "Part A.A"}}}'
    )


def test_component_expansion_does_not_loop():
    recdb = init_db(SCHEMA, DATOMS + [(12, "part", 10)])
    rpart = edn(PARTS)
    rpart[K("part")][0][K("part")][0][K("part")].insert(
        0,
        edn(
            """{:db/id 10 :name "Part A"
                :part [{:db/id 11}
                       {:db/id 15 :name "Part A.B"
                        :part [{:db/id 16 :name "Part A.B.A"
                                :part [{:db/id 17 :name "Part A.B.A.A"}
                                       {:db/id 18 :name "Part A.B.A.B"}]}]}]}"""
        ),
    )
    assert pull(recdb, "[:name :part]", 10) == rpart


def test_pull_wildcard(db):
    petr = edn('{:db/id 1 :name "Petr" :aka ["Devil" "Tupen"] :child [{:db/id 2} {:db/id 3}]}')
    assert pull(db, "[*]", 1) == petr
    assert pull(db, "[* :_child]", 2) == edn('{:db/id 2 :name "David" :_child [{:db/id 1}] :father {:db/id 1}}')
    assert pull(db, "[:name *]", 1) == petr
    assert pull(db, "[:aka :name *]", 1) == petr
    assert pull(db, "[:aka :child :name *]", 1) == petr
    assert pull(db, "[[:aka :as :alias] [:name :as :first-name] *]", 1) == edn(
        '{:alias ["Devil" "Tupen"] :child [{:db/id 2} {:db/id 3}] :first-name "Petr" :db/id 1}'
    )
    assert pull(db, "[* {:child ...}]", 1) == edn(
        """{:db/id 1 :name "Petr" :aka ["Devil" "Tupen"]
            :child [{:db/id 2 :father {:db/id 1} :name "David"}
                    {:db/id 3 :father {:db/id 1} :name "Thomas"}]}"""
    )


def test_wildcard_accepts_string_and_keyword_forms(db):
    assert pull(db, ["*"], 2) == pull(db, [K("*")], 2) == pull(db, "[*]", 2)


@pytest.fixture(scope="module")
def limit_db():
    friends = [(4, "friend", f) for f in (5, 6, 7, 8)]
    akas = [(8, "aka", f"aka-{i}") for i in range(2000)]
    return init_db(SCHEMA, DATOMS + friends + akas)


def test_pull_limit(limit_db):
    def count(pattern: str) -> int:
        return len(pull(limit_db, pattern, 8)[K("aka")])

    # Without an explicit limit, the default is 1000
    assert count("[:aka]") == DEFAULT_LIMIT == 1000
    # Explicit limit can reduce the default
    assert count("[(limit :aka 500)]") == 500
    assert count("[[:aka :limit 500]]") == 500
    # Explicit limit can increase the default
    assert count("[(limit :aka 1500)]") == 1500
    # A nil limit produces unlimited results
    assert count("[(limit :aka nil)]") == 2000
    assert count("[[:aka :limit nil]]") == 2000
    # Limits can be used as map specification keys
    assert pull(limit_db, "[:name {(limit :friend 2) [:name]}]", 4) == edn(
        '{:name "Lucy" :friend [{:name "Elizabeth"} {:name "Matthew"}]}'
    )


def test_pull_default(db):
    # Empty results return nil
    assert pull(db, "[:foo]", 1) is None
    # A default can be used to replace nil results
    assert pull(db, '[(default :foo "bar")]', 1) == edn('{:foo "bar"}')
    assert pull(db, '[[:foo :default "bar"]]', 1) == edn('{:foo "bar"}')
    assert pull(db, "[[:foo :default false]]", 1) == edn("{:foo false}")
    assert pull(db, "[[:foo :as :bar :default false]]", 1) == edn("{:bar false}")
    # default does not override results
    pattern = '[[:name :default "[name]"] [:aka :default "[aka]"] {[:child :default "[child]"] ...}]'
    assert pull(db, pattern, 1) == edn(
        """{:name "Petr" :aka ["Devil" "Tupen"]
            :child [{:name "David" :aka "[aka]" :child "[child]"}
                    {:name "Thomas" :aka "[aka]" :child "[child]"}]}"""
    )
    assert pull(db, pattern, 2) == edn('{:name "David" :aka "[aka]" :child "[child]"}')
    # Ref default
    assert pull(db, "[:db/id [:child :default 1]]", 2) == edn("{:child 1 :db/id 2}")
    assert pull(db, "[:db/id [:_child :default 2]]", 1) == edn("{:_child 2 :db/id 1}")


def test_pull_as(db):
    assert pull(db, '[[:name :as "Name"] [:aka :as :alias]]', 1) == edn(
        '{"Name" "Petr" :alias ["Devil" "Tupen"]}'
    )


def test_pull_attr_with_opts(db):
    assert pull(db, '[[:x :as "Name" :default "Nothing"]]', 1) == {"Name": "Nothing"}


def test_pull_map(db):
    # Single attrs yield a map
    assert pull(db, "[:name {:father [:name]}]", 6) == edn('{:name "Matthew" :father {:name "Thomas"}}')
    # Multi attrs yield a collection of maps
    assert pull(db, "[:name {:child [:name]}]", 1) == edn(
        '{:name "Petr" :child [{:name "David"} {:name "Thomas"}]}'
    )
    # Missing attrs are dropped
    assert pull(db, "[:name {:father [:name]}]", 1) == edn('{:name "Petr"}')
    # Non matching results are removed from collections
    assert pull(db, "[:name {:child [:foo]}]", 1) == edn('{:name "Petr"}')
    # Map specs can override component expansion
    parts = edn('{:name "Part A" :part [{:name "Part A.A"} {:name "Part A.B"}]}')
    assert pull(db, "[:name {:part [:name]}]", 10) == parts
    assert pull(db, "[:name {:part 1}]", 10) == parts


FRIENDS = """
{:db/id 4 :name "Lucy"
 :friend [{:db/id 5 :name "Elizabeth"
           :friend [{:db/id 6 :name "Matthew"
                     :friend [{:db/id 7 :name "Eunan"
                               :friend [{:db/id 8 :name "Kerri"}]}]}]}]}
"""

ENEMIES = """
{:db/id 4 :name "Lucy"
 :friend [{:db/id 5 :name "Elizabeth"
           :friend [{:db/id 6 :name "Matthew" :enemy [{:db/id 8 :name "Kerri"}]}]
           :enemy [{:db/id 7 :name "Eunan"
                    :friend [{:db/id 8 :name "Kerri"}]
                    :enemy [{:db/id 4 :name "Lucy" :friend [{:db/id 5}]}]}]}]
 :enemy [{:db/id 6 :name "Matthew"
          :friend [{:db/id 7 :name "Eunan"
                    :friend [{:db/id 8 :name "Kerri"}]
                    :enemy [{:db/id 4 :name "Lucy"
                             :enemy [{:db/id 6}]
                             :friend [{:db/id 5 :name "Elizabeth"
                                       :enemy [{:db/id 7}]
                                       :friend [{:db/id 6}]}]}]}]
          :enemy [{:db/id 8 :name "Kerri"}]}]}
"""


@pytest.fixture(scope="module")
def friends_db(db):
    return db_with(
        db,
        "[[:db/add 4 :friend 5] [:db/add 5 :friend 6] [:db/add 6 :friend 7] [:db/add 7 :friend 8]"
        " [:db/add 4 :enemy 6] [:db/add 5 :enemy 7] [:db/add 6 :enemy 8] [:db/add 7 :enemy 4]]",
    )


def test_pull_recursion(friends_db):
    # Infinite recursion
    assert pull(friends_db, "[:db/id :name {:friend ...}]", 4) == edn(FRIENDS)
    # Multiple recursion specs in one pattern
    assert pull(friends_db, "[:db/id :name {:friend 2 :enemy 2}]", 4) == edn(ENEMIES)
    # Reverse recursion
    assert pull(friends_db, "[:db/id {:_friend ...}]", 8) == edn(
        "{:db/id 8 :_friend [{:db/id 7 :_friend [{:db/id 6 :_friend [{:db/id 5 :_friend [{:db/id 4}]}]}]}]}"
    )
    assert pull(friends_db, "[:db/id {:_friend 2}]", 8) == edn(
        "{:db/id 8 :_friend [{:db/id 7 :_friend [{:db/id 6}]}]}"
    )


def test_pull_recursion_cycles(friends_db):
    # Cycles are handled by returning only the :db/id of entities seen before
    cyclic = db_with(friends_db, "[[:db/add 8 :friend 4]]")
    expected = edn(FRIENDS)
    kerri = expected
    for _ in range(4):
        kerri = kerri[K("friend")][0]
    kerri[K("friend")] = edn('[{:db/id 4 :name "Lucy" :friend [{:db/id 5}]}]')
    assert pull(cyclic, "[:db/id :name {:friend ...}]", 4) == expected


FRIEND_ENEMY = loads("{:friend {:db/valueType :db.type/ref} :enemy {:db/valueType :db.type/ref}}")


def test_seen_ids_are_tracked_per_branch():
    db = init_db(FRIEND_ENEMY, [(1, "name", "1"), (1, "friend", 2), (1, "enemy", 2), (2, "name", "2")])
    assert pull(db, "[:name {:friend [:name], :enemy [:name]}]", 1) == edn(
        '{:name "1" :friend {:name "2"} :enemy {:name "2"}}'
    )


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ("[:db/id {:friend ...}]", "{:db/id 1 :friend {:db/id 2}}"),
        ("[:db/id {:friend 1 :enemy 1}]", "{:db/id 1 :friend {:db/id 2 :enemy {:db/id 3}}}"),
        ("[:db/id {:friend 2 :enemy 1}]", "{:db/id 1 :friend {:db/id 2 :enemy {:db/id 3 :friend {:db/id 4}}}}"),
        (
            "[:db/id {:friend 2 :enemy 2}]",
            "{:db/id 1 :friend {:db/id 2 :enemy {:db/id 3 :friend {:db/id 4 :enemy {:db/id 5}}}}}",
        ),
    ],
)
def test_dual_recursion(pattern: str, expected: str) -> None:
    chain = [(1, "friend", 2), (2, "enemy", 3), (3, "friend", 4), (4, "enemy", 5), (5, "friend", 6), (6, "enemy", 7)]
    assert pull(init_db(FRIEND_ENEMY, chain), pattern, 1) == edn(expected)


def test_dual_recursion_with_cycles():
    schema = loads("{:part {:db/valueType :db.type/ref} :spec {:db/valueType :db.type/ref}}")
    db = init_db(schema, [(1, "part", 2), (2, "part", 3), (3, "part", 1), (1, "spec", 2), (2, "spec", 1)])
    assert pull(db, "[:db/id {:part ...} {:spec ...}]", 1) == edn(
        """{:db/id 1
            :spec {:db/id 2
                   :spec {:db/id 1 :spec {:db/id 2} :part {:db/id 2}}
                   :part {:db/id 3 :part {:db/id 1 :spec {:db/id 2} :part {:db/id 2}}}}
            :part {:db/id 2
                   :spec {:db/id 1 :spec {:db/id 2} :part {:db/id 2}}
                   :part {:db/id 3 :part {:db/id 1 :spec {:db/id 2} :part {:db/id 2}}}}}"""
    )


def test_deep_recursion():
    start, depth = 100, 3000
    chain = [(start, "name", f"Person-{start}")]
    for i in range(start + 1, depth):
        chain += [(i, "name", f"Person-{i}"), (i - 1, "friend", i)]
    db = init_db(SCHEMA, DATOMS + chain)
    pulled = pull(db, "[:name {:friend ...}]", start)
    for _ in range(depth - start - 1):
        pulled = pulled[K("friend")][0]
    assert pulled[K("name")] == f"Person-{depth - 1}"


def test_component_reverse():
    # DataScript issue-430
    schema = loads("{:ref {:db/valueType :db.type/ref :db/isComponent true}}")
    db = init_db(schema, [(1, "name", "1"), (1, "ref", 2), (2, "name", "2"), (2, "ref", 3), (3, "name", "3")])
    assert pull(db, "[:name {:ref [:name {:ref [:name {:_ref [:name]}]}]}]", 1) == edn(
        '{:name "1" :ref {:name "2" :ref {:name "3" :_ref {:name "2"}}}}'
    )


def test_lookup_ref_pull(db):
    assert pull(db, "[:name :aka]", edn('[:name "Petr"]')) == edn('{:name "Petr" :aka ["Devil" "Tupen"]}')
    assert pull(db, "[:name :aka]", (K("name"), "NotInDatabase")) is None
    assert pull_many(
        db,
        "[:aka]",
        [(K("name"), n) for n in ("Elizabeth", "Petr", "Eunan", "Rebecca", "Unknown")],
    ) == [None, edn('{:aka ["Devil" "Tupen"]}'), None, None, None]
    assert pull(db, "[*]", (K("name"), "No such name")) is None


def test_xform(db):
    def vector(x: Any) -> list[Any]:
        return [x]

    pattern = [
        [K("db/id"), K("xform"), vector],
        [K("name"), K("xform"), vector],
        [K("aka"), K("xform"), vector],
        {(K("child"), K("xform"), vector): ...},
    ]
    assert pull(db, pattern, 1) == {
        K("db/id"): [1],
        K("name"): ["Petr"],
        K("aka"): [["Devil", "Tupen"]],
        K("child"): [
            [
                {K("db/id"): [2], K("name"): ["David"], K("aka"): [None], K("child"): [None]},
                {K("db/id"): [3], K("name"): ["Thomas"], K("aka"): [None], K("child"): [None]},
            ]
        ],
    }
    # :xform on a cardinality-one ref (issue-455)
    name = K("name")
    assert pull(db, [name, {(K("father"), K("xform"), lambda e: e[name]): ["*"]}], 2) == {
        name: "David",
        K("father"): "Petr",
    }
    # :xform on a reverse ref, and on a reverse component ref
    assert pull(db, [name, {(K("_father"), K("xform"), lambda es: [e[name] for e in es]): [name]}], 1) == {
        name: "Petr",
        K("_father"): ["David", "Thomas"],
    }
    assert pull(db, [name, {(K("_part"), K("xform"), lambda e: e[name]): [name]}], 11) == {
        name: "Part A.A",
        K("_part"): "Part A",
    }
    # missing attrs are processed by xform
    missing = [[K("normal"), K("xform"), vector], [K("aka"), K("xform"), vector], {(K("child"), K("xform"), vector): ...}]
    assert pull(db, missing, 2) == {K("normal"): [None], K("aka"): [None], K("child"): [None]}
    # default takes precedence
    assert pull(db, [[K("unknown"), K("default"), "[unknown]", K("xform"), vector]], 1) == {K("unknown"): "[unknown]"}


def test_pull_other_dbs(db):
    # A db rebuilt from another's datoms pulls the same
    rebuilt = init_db(SCHEMA, [(d.e, d.a, d.v) for d in db.datoms("eavt")])
    assert pull(rebuilt, "[:name :aka]", 1) == edn('{:name "Petr" :aka ["Devil" "Tupen"]}')


# -- our API around it -------------------------------------------------------

_E = st.integers(1, 6)
_FACTS = st.dictionaries(
    st.tuples(_E, st.sampled_from(["name", "father", "spec"])), _E
).map(lambda d: [(e, a, f"n{v}" if a == "name" else v) for (e, a), v in d.items()])
_MANY = st.lists(st.tuples(_E, st.sampled_from(["aka", "child", "friend", "part"]), _E), unique=True)
ORACLE_PATTERNS = [
    "[*]",
    "[:db/id :name :aka :father :_father]",
    "[:name {:child [:name :aka]} {:_child [*]}]",
    "[:db/id {:friend ...}]",
    "[:db/id {:friend 2 :father 1}]",
    "[:name :part :spec]",
    "[:name {:_part ...} :_spec]",
    "[(limit :aka 2) [:child :limit 1] [:father :default 0]]",
]


@given(_FACTS, _MANY)
def test_pull_agrees_with_the_naive_oracle(one: list[tuple[Any, ...]], many: list[tuple[Any, ...]]) -> None:
    facts = one + [(e, a, f"a{v}" if a == "aka" else v) for e, a, v in many]
    real = init_db(SCHEMA, facts)
    fake = FakeDb(SCHEMA, [(e, K(a), v) for e, a, v in facts])
    for pattern in ORACLE_PATTERNS:
        assert pull_many(real, pattern, range(1, 7)) == pull_many(fake, pattern, range(1, 7)), pattern



def test_python_data_patterns(db):
    assert pull(db, ["name", ":aka"], 1) == pull(db, [K("name"), K("aka")], 1) == edn(
        '{:name "Petr" :aka ["Devil" "Tupen"]}'
    )
    assert pull(db, [K("name"), {K("child"): [K("name")]}], 1) == pull(db, "[:name {:child [:name]}]", 1)
    # `...` may be Python's Ellipsis or the string "..."
    assert pull(db, [K("name"), {K("_part"): ...}], 12) == pull(db, [K("name"), {K("_part"): "..."}], 12)
    # Lists and tuples alike
    assert pull(db, ([K("aka"), K("limit"), 1],), 1) == pull(db, [(K("aka"), K("limit"), 1)], 1) == {
        K("aka"): ["Devil"]
    }


def test_missing_entity(db):
    assert pull(db, "[:name]", 777) is None
    assert pull(db, "[:name]", (K("name"), "nobody")) is None
    # As DataScript: an id is returned for :db/id even when nothing else matches.
    assert pull(db, "[:db/id :name]", 777) == {K("db/id"): 777}


def test_bad_entity_raises(db):
    with pytest.raises(QueryError):
        pull(db, "[:name]", 1.5)


def test_parse_is_cached(db):
    assert parse(db.schema, "[:name {:child [:name]}]") is parse(db.schema, "[:name {:child [:name]}]")
    data = [K("name"), {K("child"): [K("name")]}]
    assert parse(db.schema, data) is parse(db.schema, list(data))
    # Equal-looking defaults of different types are different patterns
    assert pull(db, [[K("foo"), K("default"), 0]], 1) == {K("foo"): 0}
    assert pull(db, [[K("foo"), K("default"), False]], 1) == {K("foo"): False}


# -- pull_parser.cljc ---------------------------------------------------------

PARSER_SCHEMA = Schema(
    loads(
        """{:ref            {:db/valueType :db.type/ref}
            :ref2           {:db/valueType :db.type/ref}
            :ref3           {:db/valueType :db.type/ref}
            :ns/ref         {:db/valueType :db.type/ref}
            :multival       {:db/cardinality :db.cardinality/many}
            :multiref       {:db/valueType :db.type/ref :db/cardinality :db.cardinality/many}
            :component      {:db/valueType :db.type/ref :db/isComponent true}
            :multicomponent {:db/valueType :db.type/ref :db/isComponent true
                             :db/cardinality :db.cardinality/many}}"""
    )
)


INC = BUILTINS[Symbol("inc")].fn


def attr(name: str, **opts: Any) -> PullAttr:
    a = PARSER_SCHEMA.attr(K(name))
    base: dict[str, Any] = dict(
        key=K(name),
        many=a.many,
        ref=a.ref,
        component=a.component,
        limit=DEFAULT_LIMIT if a.many else None,
        pattern=(COMPONENT_PATTERN if a.component else REF_PATTERN) if a.ref else None,
    )
    if name == "db/id":
        base = dict(key=K(name))
    return PullAttr(K(name), **{**base, **opts})


def rattr(name: str, **opts: Any) -> PullAttr:
    """A reverse attribute: written `:ns/_name`, always pulling ids by default."""
    ns, _, local = name.rpartition("/")
    key = K(f"{ns}/_{local}" if ns else f"_{local}")
    return attr(name, **{"key": key, "reverse": True, "pattern": REF_PATTERN, **opts})


def pattern(*attrs: PullAttr, reverse: tuple[PullAttr, ...] = (), wildcard: bool = False) -> PullPattern:
    forward = tuple(attrs)
    if wildcard and not any(a.name is K("db/id") for a in forward):
        forward = (attr("db/id"),) + forward
    return PullPattern(forward, reverse, wildcard, frozenset(a.name for a in forward))


def same(parsed: PullPattern, expected: PullPattern) -> bool:
    """Equal up to attribute order (our results are dicts, so order is irrelevant)."""
    return (
        set(parsed.attrs) == set(expected.attrs)
        and set(parsed.reverse_attrs) == set(expected.reverse_attrs)
        and parsed.wildcard == expected.wildcard
        and parsed.explicit == expected.explicit
    )


def P(text: str) -> PullPattern:
    return parse(PARSER_SCHEMA, text)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[:normal]", pattern(attr("normal"))),
        ("[(:normal)]", pattern(attr("normal"))),
        ("[[:normal]]", pattern(attr("normal"))),
        ("[:db/id]", pattern(attr("db/id"))),
        # wildcards
        ("[*]", pattern(wildcard=True)),
        ('["*"]', pattern(wildcard=True)),
        ("[* :normal]", pattern(attr("normal"), wildcard=True)),
        ("[* :db/id]", pattern(attr("db/id"), wildcard=True)),
        ("[* [:db/id :as :xxx]]", pattern(attr("db/id", key=K("xxx")), wildcard=True)),
        # refs
        ("[:ref]", pattern(attr("ref"))),
        ("[:_ref]", pattern(reverse=(rattr("ref"),))),
        ("[:component]", pattern(attr("component"))),
        ("[:_component]", pattern(reverse=(rattr("component"),))),
        ("[:ns/_ref]", pattern(reverse=(rattr("ns/ref"),))),
        # several
        ("[:c :b :a]", pattern(attr("a"), attr("b"), attr("c"))),
        ("[:_ref2 :_ref3 :_ref]", pattern(reverse=(rattr("ref"), rattr("ref2"), rattr("ref3")))),
        (
            "[:ref2 (:ref3 :as :ref) (:ref :as :ref3)]",
            pattern(attr("ref", key=K("ref3")), attr("ref2"), attr("ref3", key=K("ref"))),
        ),
        # as
        ("[(:normal :as :normal2)]", pattern(attr("normal", key=K("normal2")))),
        ('[(:normal :as "normal2")]', pattern(attr("normal", key="normal2"))),
        ("[(:normal :as 123)]", pattern(attr("normal", key=123))),
        ("[(:normal :as nil)]", pattern(attr("normal", key=None))),
        ("[(:ns/_ref :as :ns/ref)]", pattern(reverse=(rattr("ns/ref", key=K("ns/ref")),))),
        ("[(:db/id :as :id)]", pattern(attr("db/id", key=K("id")))),
        # limit
        ("[:multival]", pattern(attr("multival", limit=1000))),
        ("[(:multival :limit 100)]", pattern(attr("multival", limit=100))),
        ("[(limit :multival 100)]", pattern(attr("multival", limit=100))),
        ("[(limit :multival nil)]", pattern(attr("multival", limit=None))),
        ('[("limit" :multival 100)]', pattern(attr("multival", limit=100))),
        ("[[limit :multival 100]]", pattern(attr("multival", limit=100))),
        # default
        ("[(:multival :default :xyz)]", pattern(attr("multival", default=K("xyz")))),
        ("[(default :multival :xyz)]", pattern(attr("multival", default=K("xyz")))),
        ('[("default" :multival :xyz)]', pattern(attr("multival", default=K("xyz")))),
        ("[[default :multival :xyz]]", pattern(attr("multival", default=K("xyz")))),
        # combined
        *[
            (text, pattern(attr("multival", default=K("xyz"), limit=100)))
            for text in (
                "[((:multival :limit 100) :default :xyz)]",
                "[((:multival :default :xyz) :limit 100)]",
                "[(limit (default :multival :xyz) 100)]",
                "[(default (limit :multival 100) :xyz)]",
                "[(limit (:multival :default :xyz) 100)]",
                "[(default (:multival :limit 100) :xyz)]",
                "[(((limit :multival 100) :default :xyz))]",
                "[(((default :multival :xyz) :limit 100))]",
            )
        ],
        *[
            (text, pattern(attr("multival", default=K("xyz"), limit=100, key=K("other"), xform=INC)))
            for text in (
                "[(:multival :limit 100 :default :xyz :as :other :xform inc)]",
                "[(:multival :xform inc :as :other :default :xyz :limit 100)]",
            )
        ],
        # repeated: the last spec for a key wins
        ("[:multival [:multival :default :xyz] [:multival :limit 100]]", pattern(attr("multival", limit=100))),
        ("[:ref {:ref ...}]", pattern(attr("ref", pattern=None, recursive=True))),
        ("[{:ref ...} :ref]", pattern(attr("ref"))),
        # map spec
        ("[{:ref [:normal]}]", pattern(attr("ref", pattern=pattern(attr("normal"))))),
        ("[{:_ref [:normal]}]", pattern(reverse=(rattr("ref", pattern=pattern(attr("normal"))),))),
        ("[{:ref [*]}]", pattern(attr("ref", pattern=pattern(wildcard=True)))),
        (
            "[{:ref [{:ref2 [{:ref3 [*]}]}]}]",
            pattern(attr("ref", pattern=pattern(attr("ref2", pattern=pattern(attr("ref3", pattern=pattern(wildcard=True))))))),
        ),
        (
            "[{:ref [:normal] :ref2 [:normal2]}]",
            pattern(attr("ref", pattern=pattern(attr("normal"))), attr("ref2", pattern=pattern(attr("normal2")))),
        ),
        (
            "[{:ref [:normal]} {:ref2 [:normal2]}]",
            pattern(attr("ref", pattern=pattern(attr("normal"))), attr("ref2", pattern=pattern(attr("normal2")))),
        ),
        ("[{(:multiref :limit 100) [:normal]}]", pattern(attr("multiref", limit=100, pattern=pattern(attr("normal"))))),
        ("[{(limit :multiref 100) [:normal]}]", pattern(attr("multiref", limit=100, pattern=pattern(attr("normal"))))),
        ("[{:component 1}]", pattern(attr("component", pattern=None, recursive=True, recursion_limit=1))),
        # map spec limits
        ("[{:ref 100}]", pattern(attr("ref", pattern=None, recursive=True, recursion_limit=100))),
        ("[{:ref ...}]", pattern(attr("ref", pattern=None, recursive=True))),
        ('[{:ref "..."}]', pattern(attr("ref", pattern=None, recursive=True))),
        ("[{:_ref 100}]", pattern(reverse=(rattr("ref", pattern=None, recursive=True, recursion_limit=100),))),
        ("[{:_ref ...}]", pattern(reverse=(rattr("ref", pattern=None, recursive=True),))),
    ],
)
def test_parse_pattern(text: str, expected: PullPattern) -> None:
    assert same(P(text), expected)


def test_invalid_edn_is_a_query_error() -> None:
    with pytest.raises(QueryError, match="not valid EDN"):
        P("[:name")


def test_parse_xform_takes_a_callable_or_a_builtin() -> None:
    parsed = parse(PARSER_SCHEMA, [[K("normal"), K("xform"), str]])
    assert parsed.attrs[0].xform is str
    (inc,) = P("[[:normal :xform inc]]").attrs
    assert inc.xform is not None and inc.xform(1) == 2


def test_xform_with_builtin_symbols(db):
    assert pull(db, "[[:db/id :xform vector] [:name :xform str] {[:child :xform count] [:name]}]", 1) == {
        K("db/id"): (1,),
        K("name"): "Petr",
        K("child"): 2,
    }


@pytest.mark.parametrize(
    "text, message",
    [
        ("[:_normal]", "Expected reverse attribute having :db.type/ref, got: :_normal"),
        ("[(:multival :limit)]", "Expected even number of opts, got: (:multival :limit)"),
        ("[(limit :multival)]", "Expected ['limit attr-name (positive-number | nil)], got: (limit :multival)"),
        ("[(:normal :limit 100)]", "Expected limit attribute having :db.cardinality/many, got: :normal"),
        ("[(limit :normal 100)]", "Expected limit attribute having :db.cardinality/many, got: :normal"),
        ("[(:multival :limit :abc)]", "Expected (positive-number | nil), got: :abc"),
        ("[(limit :multival :abc)]", "Expected (positive-number | nil), got: :abc"),
        ("[(default :normal)]", "Expected ['default attr-name any-value], got: (default :normal)"),
        ("[(default :normal 1 2)]", "Expected ['default attr-name any-value], got: (default :normal 1 2)"),
        ("[[:normal :xform unknown]]", "Can't resolve symbol unknown"),
        ("[{:normal [:normal2]}]", "Expected attribute having :db.type/ref, got: :normal"),
        ("[{(:ref :limit 100) [:normal]}]", "Expected limit attribute having :db.cardinality/many, got: :ref"),
        ("[{:ref :normal}]", "Expected pattern to be sequential?, got: :normal"),
        # ours
        (":name", "Expected pattern to be sequential?, got: :name"),
        ("[42]", "Expected attr-name | attr-expr | map-spec | *, got: 42"),
        ("[(:multival :bogus 1)]", "Expected one of :as, :limit, :default, :xform, got: (:multival :bogus 1)"),
        ("[{:ref 0}]", "Expected (positive-num | ...), got: {:ref 0}"),
        ("[[:normal :xform 5]]", "Expected a function or a built-in's symbol for :xform, got: 5"),
        ("[[:normal :xform get]]", "Can't resolve symbol get"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(QueryError) as err:
        P(text)
    assert str(err.value) == message
