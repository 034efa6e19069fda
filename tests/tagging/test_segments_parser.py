"""tagging.segments.parse: the grammar, precedence, keyword synonyms, quoting, typed field values, and every
syntax error with the exact position it names. No database: parsing resolves no names."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation

from tagging.segments import MAX_DEPTH, MAX_LENGTH, MAX_TERMS, FieldTerm, Not, SegmentError, TagTerm, parse


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def shape(node) -> object:
    """The tree without positions, compact: tags as names, fields as (field, op, value)."""
    if isinstance(node, TagTerm):
        return node.name
    if isinstance(node, FieldTerm):
        return (node.field, node.op, node.value)
    if isinstance(node, Not):
        return ("NOT", shape(node.operand))
    return (type(node).__name__.upper(), *[shape(operand) for operand in node.operands])


def error(expression: str) -> tuple[str, int]:
    with pytest.raises(SegmentError) as caught:
        parse(expression)
    return caught.value.message, caught.value.position


# ---- grammar ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("奶粉", "奶粉"),
        ("奶粉 AND 辅食", ("AND", "奶粉", "辅食")),
        ("奶粉 辅食", ("AND", "奶粉", "辅食")),  # side by side means AND
        ("奶粉 OR 辅食", ("OR", "奶粉", "辅食")),
        ("a OR b c", ("OR", "a", ("AND", "b", "c"))),  # AND binds tighter than OR
        ("a b OR c", ("OR", ("AND", "a", "b"), "c")),
        ("(a OR b) c", ("AND", ("OR", "a", "b"), "c")),
        ("NOT a b", ("AND", ("NOT", "a"), "b")),  # NOT binds tightest
        ("NOT (a b)", ("NOT", ("AND", "a", "b"))),
        ("a AND (b AND c) AND d", ("AND", "a", "b", "c", "d")),  # flattened
        ("a OR (b OR c)", ("OR", "a", "b", "c")),
        ("NOT NOT a", "a"),
        ("NOT NOT NOT a", ("NOT", "a")),
        ("NOT (NOT a)", "a"),
        ("((((a))))", "a"),
        ("a NOT b", ("AND", "a", ("NOT", "b"))),
    ],
)
def test_grammar_and_precedence(expression, expected):
    assert shape(parse(expression)) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "a AND b OR NOT c",
        "a and b or not c",
        "a And b Or Not c",
        "a 且 b 或 非 c",
        "a & b | !c",
        "a && b || !c",
        "a&b|!c",
        "(a b) OR !c",
    ],
)
def test_keyword_synonyms(expression):
    assert shape(parse(expression)) == ("OR", ("AND", "a", "b"), ("NOT", "c"))


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("非会员", "非会员"),  # keywords are whole words only
        ("ORANGE", "ORANGE"),
        ("android", "android"),
        ("或许", "或许"),
        ('"new mum"', "new mum"),
        ('"a \\"quoted\\" name"', 'a "quoted" name'),
        ('"back\\\\slash"', "back\\slash"),
        ('"AND"', "AND"),  # a quoted keyword is a tag
        ('"stage:谈判"', "stage:谈判"),  # so is a quoted field
        ('"a(b)"', "a(b)"),
        ("兴趣/奶粉", "兴趣/奶粉"),
        ("tag:奶粉", "奶粉"),
        ('tag:"new mum"', "new mum"),
        ("TAG:兴趣/奶粉", "兴趣/奶粉"),
        ("奶粉（进口）", "奶粉（进口）"),  # full-width parentheses are part of a name
        ("  奶粉\u3000", "奶粉"),  # any whitespace, the ideographic space too
    ],
)
def test_tag_names_and_quoting(expression, expected):
    assert shape(parse(expression)) == expected


def test_positions_are_character_offsets():
    node = parse('(奶粉 OR "new mum") AND NOT stage:谈判 spend >= 500')
    (either, negated, spend) = node.operands
    assert [term.position for term in either.operands] == [1, 7]
    assert negated.position == 22 and negated.operand.position == 26
    assert (negated.operand.value_position, spend.position, spend.value_position) == (32, 35, 44)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("stage:谈判", ("stage", ":", "谈判")),
        ("Stage = 谈判", ("stage", "=", "谈判")),
        ("stage!=谈判", ("stage", "!=", "谈判")),
        ('stage:"方案 报价"', ("stage", ":", "方案 报价")),
        ("spend>=500", ("spend", ">=", Decimal("500"))),
        ("spend > 99.5", ("spend", ">", Decimal("99.5"))),
        ("spend<=0.01", ("spend", "<=", Decimal("0.01"))),
        ("spend!=0", ("spend", "!=", Decimal("0"))),
        ("orders<3", ("orders", "<", 3)),
        ("orders=0", ("orders", "=", 0)),
        ("idle_days>=30", ("idle_days", ">=", 30)),
        ("idle_days>=36500", ("idle_days", ">=", 36500)),
        ("members>=100", ("members", ">=", 100)),
        ("lifecycle:trial", ("lifecycle", ":", "trial")),
        ("lifecycle:Trial", ("lifecycle", ":", "trial")),
        ("lifecycle:体验", ("lifecycle", ":", "trial")),
        ('lifecycle:"Trial (体验)"', ("lifecycle", ":", "trial")),
        ("lifecycle>=转化", ("lifecycle", ">=", "conversion")),
        ("owner:zhangsan", ("owner", ":", "zhangsan")),
        ("channel:shop-1", ("channel", ":", "shop-1")),
        ("group:wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA", ("group", ":", "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA")),
        ("tier:VIP", ("tier", ":", "VIP")),
        ("opt_out:yes", ("opt_out", ":", True)),
        ("opt_out:NO", ("opt_out", ":", False)),
        ("phone:是", ("phone", ":", True)),
        ("phone:否", ("phone", ":", False)),
        ("name:宝妈", ("name", ":", "宝妈")),
        ("status:dismissed", ("status", ":", "dismissed")),
    ],
)
def test_field_terms_are_typed(expression, expected):
    assert shape(parse(expression)) == expected


def test_the_limits_are_inclusive():
    parse("a" * MAX_LENGTH)
    parse("(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH)
    parse(" ".join(["a"] * MAX_TERMS))
    assert shape(parse("!" * (MAX_LENGTH - 1) + "a")) == ("NOT", "a")  # no recursion per NOT


# ---- errors: message and position -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message", "position"),
    [
        ("", "The expression is empty (position 0)", 0),
        ("   ", "The expression is empty (position 0)", 0),
        ("(奶粉 OR 辅食", "Expected “)” at position 9 to close the “(” at position 0", 9),
        ("(奶粉 OR 辅食 stage:谈判 spend>=1", "Expected “)” at position 27 to close the “(” at position 0", 27),
        ("((a) OR b", "Expected “)” at position 9 to close the “(” at position 0", 9),
        ("奶粉)", "Unexpected “)” at position 2: no “(” is open", 2),
        ("(a))", "Unexpected “)” at position 3: no “(” is open", 3),
        ("()", "Expected a tag or a condition at position 1, found “)”", 1),
        ("a AND", "Expected a tag or a condition at position 5, but the expression ends there", 5),
        ("a OR OR b", "Expected a tag or a condition at position 5, found “OR”", 5),
        ("AND a", "Expected a tag or a condition at position 0, found “AND”", 0),
        ("a 或", "Expected a tag or a condition at position 3, but the expression ends there", 3),
        ("NOT", "Expected a tag or a condition at position 3, but the expression ends there", 3),
        ("a | ", "Expected a tag or a condition at position 4, but the expression ends there", 4),
        (":a", "Expected a tag or a condition at position 0, found “:”", 0),
        (">=5", "Expected a tag or a condition at position 0, found “>=”", 0),
        ('a "b" :c', "Unexpected “:” at position 6", 6),
        ('"abc', "The quote at position 0 is never closed", 0),
        ('a "b\\"', "The quote at position 2 is never closed", 2),
        ("'a b'", 'Put names in double quotes ("…"), not single ones, at position 0', 0),
        ('a ""', "Empty tag name at position 2", 2),
        ('tag:"  "', "Empty tag name at position 4", 4),
        ("tag:", "Expected a value for “tag” at position 4", 4),
        ("tag>=a", "“tag” does not take “>=” (position 3): write it as tag:…", 3),
        ("stage:", "Expected a value for “stage” at position 6", 6),
        ("stage: AND a", "Expected a value for “stage” at position 7", 7),
        ("stage>=谈判", "“stage” does not take “>=” (position 5): write it as stage:…", 5),
        ("spend:500", "“spend” does not take “:” (position 5): write it as spend>=1", 5),
        ("opt_out>yes", "“opt_out” does not take “>” (position 7): write it as opt_out:…", 7),
        (
            "a foo:bar",
            "Unknown field “foo” at position 2 (fields: tag, stage, lifecycle, spend, orders, idle_days, owner, "
            "channel, group, tier, opt_out, phone, members, name, status; put a tag name that holds “:” in double "
            "quotes)",
            2,
        ),
        (
            "奶粉>=5",
            "Unknown field “奶粉” at position 0 (fields: tag, stage, lifecycle, spend, orders, idle_days, owner, "
            "channel, group, tier, opt_out, phone, members, name, status; put a tag name that holds “>=” in double "
            "quotes)",
            0,
        ),
        (
            "spend>=abc",
            "“abc” at position 7 is not an amount: write a number of 0 or more with at most 2 decimals, such as "
            "500 or 99.5",
            7,
        ),
        (
            "spend >= -5",
            "“-5” at position 9 is not an amount: write a number of 0 or more with at most 2 decimals, such as "
            "500 or 99.5",
            9,
        ),
        (
            "spend>=1.234",
            "“1.234” at position 7 is not an amount: write a number of 0 or more with at most 2 decimals, such as "
            "500 or 99.5",
            7,
        ),
        (
            "spend>=1234567890123",
            "“1234567890123” at position 7 is not an amount: write a number of 0 or more with at most 2 decimals, "
            "such as 500 or 99.5",
            7,
        ),
        ("orders>=1.5", "“1.5” at position 8 is not a whole number of 0 or more", 8),
        ("orders>=１", "“１” at position 8 is not a whole number of 0 or more", 8),  # full-width digit
        ("idle_days>=36501", "36501 at position 11 is too large for “idle_days” (at most 36500)", 11),
        ("members>2147483648", "2147483648 at position 8 is too large for “members” (at most 2147483647)", 8),
        ("opt_out:maybe", "“opt_out” is yes or no, not “maybe” (position 8)", 8),
        (
            "lifecycle:loyal",
            "“loyal” at position 10 is not a lifecycle value (one of awareness, trial, conversion, repurchase, "
            "advocacy)",
            10,
        ),
        ("status:gone", "“gone” at position 7 is not a status value (one of normal, dismissed)", 7),
        ('owner:""', "“owner” needs a value at position 6", 6),
        ("a" * (MAX_LENGTH + 1), "The expression is longer than 2000 characters (position 2000)", 2000),
        (
            "(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1),
            "Parentheses nested more than 20 deep at position 20",
            20,
        ),
        (" ".join(["a"] * (MAX_TERMS + 1)), "More than 100 terms: the one at position 200 is one too many", 200),
        (
            " ".join(["spend>=1"] * (MAX_TERMS + 1)),
            "More than 100 terms: the one at position 900 is one too many",
            900,
        ),
    ],
)
def test_errors_name_the_position(expression, message, position):
    assert error(expression) == (message, position)


def test_the_pointer_puts_a_caret_under_the_position():
    with pytest.raises(SegmentError) as caught:
        parse("奶粉 OR 辅食\t) stage:谈判")
    assert caught.value.position == 9
    # CJK characters take two columns, so the caret is indented by display width; tabs shown as spaces
    assert caught.value.pointer == "奶粉 OR 辅食 ) stage:谈判\n" + " " * 13 + "^"


def test_a_segment_error_is_a_validation_error_that_names_its_field():
    with pytest.raises(SegmentError) as caught:
        parse("a )")
    assert caught.value.messages == ["Unexpected “)” at position 2: no “(” is open"]
    assert str(caught.value) == "Unexpected “)” at position 2: no “(” is open"
    assert caught.value.as_validation_error().message_dict == {
        "expression": ["Unexpected “)” at position 2: no “(” is open"]
    }
