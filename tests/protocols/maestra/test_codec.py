"""The Maestra codec: XML and JSON bodies to and from one tree, safely."""

from __future__ import annotations

import enum
import time
import traceback
import xml.etree.ElementTree as StdET
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pointkeeper import limits
from pointkeeper.protocols.maestra import codec
from pointkeeper.protocols.maestra.codec import (
    MalformedRequest,
    Tree,
    escape_text,
    parse_json,
    parse_xml,
    render_json,
    render_xml,
)
from pointkeeper.protocols.maestra.names import LIST_ELEMENTS

# The XML blocks of the seed documents, copied verbatim (placeholders and
# all) so the tests need nothing outside the repository;
# test_the_copies_match_the_seed_files checks the copies when the seeds are
# at hand. Their long lines are the seeds' own, hence the file-wide E501 pass.
# ruff: noqa: E501
SEEDS_DIR = Path("/work/shared/seeds")
SEED_000_FILE = "000_63af3f09e8239e62.txt"
SEED_002_FILE = "002_57e225e20bc809b3.txt"

SEED_000_REQUEST = """\
<operation>
  <sinceDateTimeUtc>{Timestamp of the earliest action (UTC, YYYY-MM-DD hh:mm)}</sinceDateTimeUtc>
  <tillDateTimeUtc>{Timestamp of the latest action (UTC, YYYY-MM-DD hh:mm)}</tillDateTimeUtc>
  <segment>
    <ids>
      <externalId>{Segment external ID}</externalId>
    </ids>
  </segment>
</operation>"""

SEED_000_RESPONSE = """\
<result>
  <status>Success</status>
  <customerActions>
    <customerAction>
      <ids>
        <customerActionId>{Maestra id}</customerActionId>
        <transactionId>{external action ID}</transactionId>
      </ids>
      <actionTemplate>
        <systemName>{internal action template name at Maestra}</systemName>
        <name>{action template name at Maestra}</name>
      </actionTemplate>
      <dateTimeUtc>{date of customer action}</dateTimeUtc>
      <pointOfContact>
        <ids>
          <externalId>{external point of contact ID}</externalId>
        </ids>
      </pointOfContact>
      <customer>
        <ids>
          <customerId>{Maestra id}</customerId>
          <webSiteId>{customer ID}</webSiteId>
        </ids>
      </customer>
      <customerBalanceChanges>
        <customerBalanceChange>
          <changeAmount>{balance update amount}</changeAmount>
          <expirationDateTimeUtc>{bonus points expiry date}</expirationDateTimeUtc>
          <balanceChangeKind>
            <systemName>{balance update type}</systemName>
          </balanceChangeKind>
        </customerBalanceChange>
      </customerBalanceChanges>
    </customerAction>
  </customerActions>
</result>"""

SEED_002_REQUEST = """\
<operation>
    <customer>
        <ids>
            <webSiteUserId>{customer ID}</webSiteUserId>
        </ids>
    </customer>
    <promoCode>
        <ids>
            <value>{promo code value}</value>
        </ids>
        <pool>
            <ids>
                <externalId>{external ID}</externalId>
            </ids>
        </pool>
        <availableFromDateTimeUtc>{promo code availability start date as YYYY-MM-DD hh:mm:ss.fff}</availableFromDateTimeUtc>
        <availableTillDateTimeUtc>{promo code availability end date as YYYY-MM-DD hh:mm:ss.fff }</availableTillDateTimeUtc>
    </promoCode>
    <executionDateTimeUtc>{date and time of promo code execution (for backdated requests)}</executionDateTimeUtc>
</operation>"""

SEED_002_RESPONSE = """\
<result>
\t<status>{Request result: 'Success' on success, 'ValidationError' on customer error, 'ProtocolError' on integration error, 'InternalServerError' if server is unavailable.}</status>
\t<promoCode>
\t\t<issueStatus>{issuance status}</issueStatus>
\t\t<ids>
\t\t\t<mindboxId>{promo code ID}</mindboxId>
\t\t\t<value>{promo code value}</value>
\t\t</ids>
\t\t<pool>
\t\t\t<ids>
\t\t\t\t<externalId>{external ID}</externalId>
\t\t\t</ids>
\t\t\t<name>{name}</name>
\t\t\t<description>{description}</description>
\t\t</pool>
\t\t<availableFromDateTimeUtc>{promo code availability start date as YYYY-MM-DD hh:mm:ss.fff}</availableFromDateTimeUtc>
\t\t<availableTillDateTimeUtc>{promo code availability end date as YYYY-MM-DD hh:mm:ss.fff }</availableTillDateTimeUtc>
\t\t<isUsed>{is promo code redeemed, true or false}</isUsed>
\t\t<usedPointOfContact>
\t\t\t<ids>
\t\t\t\t<externalId>{external ID}</externalId>
\t\t\t</ids>
\t\t\t<name>{point of contact name}</name>
\t\t</usedPointOfContact>
\t\t<usedDateTimeUtc>{code redemption date as YYYY-MM-DD hh:mm:ss.fff}</usedDateTimeUtc>
\t\t<issuedPointOfContact>
\t\t\t<ids>
\t\t\t\t<externalId>{external ID}</externalId>
\t\t\t</ids>
\t\t\t<name>{point of contact name}</name>
\t\t</issuedPointOfContact>
\t\t<issuedDateTimeUtc>{promo code issuance date as YYYY-MM-DD hh:mm:ss.fff}</issuedDateTimeUtc>
\t\t<blockedDateTimeUtc>{promo code blocking date as YYYY-MM-DD hh:mm:ss.fff}</blockedDateTimeUtc>
\t</promoCode>
</result>"""

# Trees with sample values in place of the seeds' {placeholders}. Request
# leaves are strings, as XML gives them; answers carry ints and bools.
TREE_000_REQUEST: Tree = {
    "sinceDateTimeUtc": "2025-03-01 00:00",
    "tillDateTimeUtc": "2025-04-01 00:00",
    "segment": {"ids": {"externalId": "vip-customers"}},
}

TREE_000_RESPONSE: Tree = {
    "status": "Success",
    "customerActions": [
        {
            "ids": {"customerActionId": 1001, "transactionId": "pos-42/7781"},
            "actionTemplate": {"systemName": "RetailOrder", "name": "Retail order"},
            "dateTimeUtc": "2025-03-14 09:30:00.000",
            "pointOfContact": {"ids": {"externalId": "store-12"}},
            "customer": {"ids": {"customerId": 77, "webSiteId": "web-1001"}},
            "customerBalanceChanges": [
                {
                    "changeAmount": -150,
                    "expirationDateTimeUtc": "2026-03-14 00:00:00.000",
                    "balanceChangeKind": {"systemName": "RetailOrderPayment"},
                }
            ],
        }
    ],
}

TREE_002_REQUEST: Tree = {
    "customer": {"ids": {"webSiteUserId": "web-1001"}},
    "promoCode": {
        "ids": {"value": "SPRING-25 & <friends>"},
        "pool": {"ids": {"externalId": "spring-pool"}},
        "availableFromDateTimeUtc": "2025-03-01 00:00:00.000",
        "availableTillDateTimeUtc": "2025-06-01 00:00:00.000",
    },
    "executionDateTimeUtc": "2025-03-02 10:15:00.000",
}

TREE_002_RESPONSE: Tree = {
    "status": "Success",
    "promoCode": {
        "issueStatus": "Issued",
        "ids": {"mindboxId": 5001, "value": "SPRING-25"},
        "pool": {
            "ids": {"externalId": "spring-pool"},
            "name": "Spring",
            "description": "Spring 2025 codes",
        },
        "availableFromDateTimeUtc": "2025-03-01 00:00:00.000",
        "availableTillDateTimeUtc": "2025-06-01 00:00:00.000",
        "isUsed": True,
        "usedPointOfContact": {"ids": {"externalId": "store-12"}, "name": "Store 12"},
        "usedDateTimeUtc": "2025-03-05 18:00:00.000",
        "issuedPointOfContact": {"ids": {"externalId": "web"}, "name": "Web site"},
        "issuedDateTimeUtc": "2025-03-02 10:15:00.000",
        "blockedDateTimeUtc": "2025-03-02 10:15:00.000",
    },
}


def wire_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def fill(element: StdET.Element, node: Any) -> None:
    """Replaces each {placeholder} of a seed's XML with the tree's value at the
    same place, and checks that the literal leaves match the tree."""
    children = list(element)
    if not children:
        text = (element.text or "").strip()
        if text.startswith("{"):
            element.text = wire_text(node)
        else:
            assert text == wire_text(node), element.tag
        return
    for index, child in enumerate(children):
        if element.tag in LIST_ELEMENTS:
            fill(child, node[index])
        else:
            fill(child, node[child.tag])


def filled_seed(xml: str, tree: Tree) -> StdET.Element:
    element = StdET.fromstring(xml)
    fill(element, tree)
    return element


def shape(element: StdET.Element) -> tuple[str, str, list[Any]]:
    """An element's name, stripped text and children, in order."""
    return (element.tag, (element.text or "").strip(), [shape(child) for child in element])


# Seed round trips.


def test_the_copies_match_the_seed_files() -> None:
    if not SEEDS_DIR.is_dir():
        pytest.skip(f"{SEEDS_DIR} is not on this machine")
    text_000 = (SEEDS_DIR / SEED_000_FILE).read_text(encoding="utf-8")
    text_002 = (SEEDS_DIR / SEED_002_FILE).read_text(encoding="utf-8")
    assert SEED_000_REQUEST in text_000
    assert SEED_000_RESPONSE in text_000
    assert SEED_002_REQUEST in text_002
    assert SEED_002_RESPONSE in text_002


@pytest.mark.parametrize(
    ("seed", "tree"),
    [(SEED_000_REQUEST, TREE_000_REQUEST), (SEED_002_REQUEST, TREE_002_REQUEST)],
    ids=["000", "002"],
)
def test_seed_requests_read_the_same_from_xml_and_json(seed: str, tree: Tree) -> None:
    body = StdET.tostring(filled_seed(seed, tree), encoding="utf-8")
    assert parse_xml(body) == tree
    assert parse_json(orjson.dumps(tree)) == tree
    assert parse_xml(render_xml(tree, root="operation")) == tree
    assert parse_json(render_json(tree)) == tree


@pytest.mark.parametrize(
    ("seed", "tree"),
    [(SEED_000_RESPONSE, TREE_000_RESPONSE), (SEED_002_RESPONSE, TREE_002_RESPONSE)],
    ids=["000", "002"],
)
def test_answers_render_in_the_seed_shape(seed: str, tree: Tree) -> None:
    rendered = render_xml(tree)
    assert rendered.startswith(b'<?xml version="1.0" encoding="utf-8"?><result>')
    assert shape(StdET.fromstring(rendered)) == shape(filled_seed(seed, tree))


def test_seed_000_answer_in_json_has_plain_arrays() -> None:
    answer = orjson.loads(render_json(TREE_000_RESPONSE))
    assert answer == TREE_000_RESPONSE
    action = answer["customerActions"][0]
    assert action["customerBalanceChanges"][0]["changeAmount"] == -150


# Reading XML.


def test_leaves_are_stripped_strings_and_empty_elements_are_empty() -> None:
    body = "<operation>\n  <a>  two words \n</a><b/><c></c><d>\n\t</d><e>\u00a0x\u00a0</e>\n</operation>"
    assert parse_xml(body.encode()) == {
        "a": "two words",
        "b": "",
        "c": "",
        "d": "",
        "e": "\u00a0x\u00a0",
    }


def test_lists_read_as_lists_of_their_items() -> None:
    body = (
        b"<operation><customerActions>"
        b"<customerAction><ids><customerActionId>1</customerActionId></ids></customerAction>"
        b"<customerAction><ids><customerActionId>2</customerActionId></ids></customerAction>"
        b"</customerActions><promoCodes><promoCode>A</promoCode></promoCodes>"
        b"<balances/><validationMessages> </validationMessages></operation>"
    )
    assert parse_xml(body) == {
        "customerActions": [
            {"ids": {"customerActionId": "1"}},
            {"ids": {"customerActionId": "2"}},
        ],
        "promoCodes": ["A"],
        "balances": [],
        "validationMessages": [],
    }


def test_an_item_name_outside_its_list_is_an_ordinary_element() -> None:
    body = b"<operation><promoCode><ids><value>X</value></ids></promoCode></operation>"
    assert parse_xml(body) == {"promoCode": {"ids": {"value": "X"}}}


def test_attributes_comments_namespaces_and_references() -> None:
    body = (
        b'<?xml version="1.0" encoding="utf-8"?>'
        b'<m:operation xmlns:m="urn:x" version="3"><!-- a comment -->'
        b'<m:a kind="k">x &amp; y &lt;z&gt; &#233;&#x20AC;</m:a>'
        b"<b><![CDATA[<raw> & text]]></b><?pi data?><c>\xd0\x96</c></m:operation>"
    )
    assert parse_xml(body) == {"a": "x & y <z> \u00e9\u20ac", "b": "<raw> & text", "c": "\u0416"}


def test_an_empty_operation_is_an_empty_tree() -> None:
    assert parse_xml(b"<operation/>") == {}
    assert parse_xml(b"<operation>\n</operation>") == {}


def test_the_body_is_read_as_utf8_whatever_it_declares() -> None:
    body = '<?xml version="1.0" encoding="windows-1251"?><operation><a>Ж</a></operation>'
    assert parse_xml(body.encode("utf-8")) == {"a": "Ж"}


def malformed_xml(body: bytes) -> str:
    with pytest.raises(MalformedRequest) as caught:
        parse_xml(body)
    assert str(caught.value) == caught.value.message
    return caught.value.message


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"<result><a>1</a></result>", "<operation>"),
        (b"<operation><a>1</a><b/><a>2</a></operation>", "<a> appears more than once"),
        (b"<operation><x><y/><y/></x></operation>", "<y> appears more than once in <x>"),
        (
            b"<operation><customerActions><customerAction/><other/></customerActions></operation>",
            "<other>",
        ),
        (b"<operation><customerActions>text</customerActions></operation>", "text"),
        (b"<operation><a>text<b/></a></operation>", "mixes text"),
        (b"<operation>text</operation>", "not text"),
        (b"<operation><a>&unknown;</a></operation>", "undefined entity"),
        (b"", "not well-formed"),
        (b"<operation><a>1</a>", "not well-formed"),
        (b"<operation></operation><operation/>", "not well-formed"),
        (b"<operation><a>1</b></operation>", "not well-formed"),
        (b"\x00\x01garbage", "not well-formed"),
        (b"{}", "not well-formed"),
        (b"<operation><a>\xe9t\xe9</a></operation>", "UTF-8"),
        ("<operation/>".encode("utf-16"), "UTF-8"),
    ],
)
def test_malformed_xml_is_refused_with_a_reason(body: bytes, words: str) -> None:
    assert words in malformed_xml(body)


def nested(depth: int) -> bytes:
    return b"<operation>" + b"<a>" * (depth - 1) + b"x" + b"</a>" * (depth - 1) + b"</operation>"


def test_nesting_is_bounded() -> None:
    assert parse_xml(nested(limits.xml_depth_max))
    assert "deeper than 32" in malformed_xml(nested(limits.xml_depth_max + 1))
    started = time.perf_counter()
    malformed_xml(nested(100_000))
    assert time.perf_counter() - started < 0.5


def many(items: int) -> bytes:
    return (
        b"<operation><promoCodes>"
        + b"<promoCode>c</promoCode>" * items
        + b"</promoCodes></operation>"
    )


def test_the_number_of_elements_is_bounded() -> None:
    # The root and the list wrapper count too.
    items = limits.xml_elements_max - 2
    assert len(parse_xml(many(items))["promoCodes"]) == items
    refused = malformed_xml(many(items + 1))
    assert f"more than {limits.xml_elements_max} elements" in refused


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE operation [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<operation><a>&lol9;</a></operation>"""


def test_billion_laughs_is_refused_at_once() -> None:
    started = time.perf_counter()
    message = malformed_xml(BILLION_LAUGHS)
    assert time.perf_counter() - started < 0.05
    assert "DOCTYPE" in message
    assert "lol" not in message


def test_quadratic_blowup_is_refused_at_once() -> None:
    body = (
        b'<!DOCTYPE operation [<!ENTITY a "'
        + b"x" * 50_000
        + b'">]><operation><a>'
        + b"&a;" * 50_000
        + b"</a></operation>"
    )
    started = time.perf_counter()
    malformed_xml(body)
    assert time.perf_counter() - started < 0.05


SECRET = "the-secret-content-7f3a9c"


def assert_nothing_leaks(body: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(MalformedRequest) as caught:
        parse_xml(body)
    assert time.perf_counter() - started < 0.05
    error = caught.value
    shown = [
        error.message,
        str(error),
        repr(error),
        "".join(traceback.format_exception(error)),
        repr(error.__cause__),
        repr(error.__context__),
    ]
    assert all(SECRET not in text for text in shown)


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET, encoding="utf-8")
    return path


def test_an_external_entity_never_reads_the_file(secret_file: Path) -> None:
    body = (
        f'<?xml version="1.0"?><!DOCTYPE operation [<!ENTITY xxe SYSTEM "{secret_file.as_uri()}">]>'
        "<operation><a>&xxe;</a></operation>"
    )
    assert_nothing_leaks(body.encode())


def test_an_external_dtd_and_parameter_entities_are_refused(secret_file: Path) -> None:
    uri = secret_file.as_uri()
    assert_nothing_leaks(f'<!DOCTYPE operation SYSTEM "{uri}"><operation/>'.encode())
    assert_nothing_leaks(
        f'<!DOCTYPE operation [<!ENTITY % p SYSTEM "{uri}"> %p;]><operation/>'.encode()
    )
    assert_nothing_leaks(
        b'<!DOCTYPE operation PUBLIC "-//X//Y" "http://127.0.0.1:9/x.dtd"><operation/>'
    )


def test_xinclude_is_just_an_element(secret_file: Path) -> None:
    body = (
        '<operation xmlns:xi="http://www.w3.org/2001/XInclude">'
        f'<xi:include href="{secret_file.as_uri()}" parse="text"/></operation>'
    )
    assert parse_xml(body.encode()) == {"include": ""}


# Reading JSON.


def test_json_values_keep_their_types() -> None:
    body = b'{"a": 1, "b": 2.5, "c": true, "d": null, "e": "x", "f": [1, {"g": []}], "h": {}}'
    assert parse_json(body) == {
        "a": 1,
        "b": 2.5,
        "c": True,
        "d": None,
        "e": "x",
        "f": [1, {"g": []}],
        "h": {},
    }


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"[]", "must be an object"),
        (b'"operation"', "must be an object"),
        (b"null", "must be an object"),
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"{'a': 1}", "not valid JSON"),
        (b'{"a": "\xff"}', "not valid JSON"),
        (b"<operation/>", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)
def test_malformed_json_is_refused_with_a_reason(body: bytes, words: str) -> None:
    with pytest.raises(MalformedRequest) as caught:
        parse_json(body)
    assert words in caught.value.message


def json_nested(depth: int) -> Tree:
    tree: Tree = {}
    for _ in range(depth - 1):
        tree = {"a": tree}
    return tree


def test_json_nesting_and_size_are_bounded() -> None:
    assert parse_json(orjson.dumps(json_nested(limits.json_depth_max)))
    with pytest.raises(MalformedRequest, match="deeper than 32"):
        parse_json(orjson.dumps(json_nested(limits.json_depth_max + 1)))
    # The object itself is one of the values.
    assert parse_json(orjson.dumps({"a": [0] * (limits.json_values_max - 2)}))
    with pytest.raises(MalformedRequest, match=f"more than {limits.json_values_max} values"):
        parse_json(orjson.dumps({"a": [0] * (limits.json_values_max - 1)}))


# Rendering.


class Kind(enum.IntEnum):
    BONUS = 7


class Status(enum.StrEnum):
    SUCCESS = "Success"


def test_render_xml_writes_values_in_order_and_leaves_out_none() -> None:
    tree: Tree = {
        "status": Status.SUCCESS,
        "z": 0,
        "a": {"n": -12, "kind": Kind.BONUS, "gone": None, "yes": True, "no": False},
        "empty": "",
        "missing": None,
        "balances": [],
        "promoCodes": ["A", None, "B"],
    }
    assert render_xml(tree) == (
        b'<?xml version="1.0" encoding="utf-8"?><result><status>Success</status><z>0</z>'
        b"<a><n>-12</n><kind>7</kind><yes>true</yes><no>false</no></a><empty></empty>"
        b"<balances></balances><promoCodes><promoCode>A</promoCode><promoCode>B</promoCode>"
        b"</promoCodes></result>"
    )


def test_render_xml_escapes_markup() -> None:
    text = "a & b <c> ]]> \"q\" 'q' &amp;"
    rendered = render_xml({"t": text})
    assert b"<t>a &amp; b &lt;c&gt; ]]&gt; \"q\" 'q' &amp;amp;</t>" in rendered
    assert parse_xml(render_xml({"t": text}, root="operation")) == {"t": text}
    assert StdET.fromstring(rendered).findtext("t") == text


def test_characters_xml_cannot_carry_become_replacement_characters() -> None:
    text = "a\x00b\x01\x08\x0b\x0c\x0e\x1f\x7fc\ud800\udfff\ufffe\uffff\U0001f600\td\ne\rf"
    rendered = render_xml({"t": text})
    expected = "a\ufffdb\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd\x7fc\ufffd\ufffd\ufffd\ufffd"
    expected += "\U0001f600\td\ne\rf"
    # Both a strict stdlib parser and our reader accept the document; carriage
    # return, tab and newline survive.
    assert StdET.fromstring(rendered).findtext("t") == expected
    assert parse_xml(render_xml({"t": text}, root="operation")) == {"t": expected}
    assert render_json({"t": "x\ud800y"}) == '{"t":"x\ufffdy"}'.encode()


def test_escape_text_is_what_render_xml_writes() -> None:
    text = "x\x00 & <y>\r\ud800"
    assert escape_text(text) == "x\ufffd &amp; &lt;y&gt;&#13;\ufffd"
    assert render_xml({"t": text}) == render_xml({}).replace(
        b"</result>", f"<t>{escape_text(text)}</t></result>".encode()
    )
    plain = "nothing to escape"
    assert escape_text(plain) is plain


@pytest.mark.parametrize("name", ["a b", "1a", "<x>", "a>b", "", "é"])
def test_render_xml_refuses_names_that_are_not_xml_names(name: str) -> None:
    with pytest.raises(ValueError, match="not a valid XML element name"):
        render_xml({name: "x"})


@pytest.mark.parametrize(
    "tree",
    [
        {"a": [1, 2]},
        {"customerActions": {"a": 1}},
        {"a": 1.5},
        {"a": b"bytes"},
        {"customerActions": [[1]]},
    ],
)
def test_render_xml_refuses_values_without_an_xml_form(tree: Tree) -> None:
    with pytest.raises(TypeError):
        render_xml(tree)


def test_render_json_leaves_out_none_at_every_level() -> None:
    tree: Tree = {"a": None, "b": {"c": None, "d": 1}, "e": [None, {"f": None}, 2], "g": True}
    assert render_json(tree) == b'{"b":{"d":1},"e":[{},2],"g":true}'


def test_render_json_does_not_change_the_tree() -> None:
    tree: Tree = {"a": None, "b": {"c": None}}
    render_json(tree)
    assert tree == {"a": None, "b": {"c": None}}


# Any tree survives rendering and reading back. XML leaves are strings
# without surrounding XML whitespace, and an empty element reads as "".

xml_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="\ufffe\uffff")
    # Controls XML allows, and the characters escaping is about.
    | st.sampled_from("\t\n\r\x7f\x85&<>"),
    max_size=12,
).map(lambda text: text.strip(" \t\r\n"))

plain_names = st.sampled_from(["a", "b", "status", "ids", "value", "n.1", "_x", "promoCode"])


def dicts(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Tree]:
    plain = st.dictionaries(plain_names, values, min_size=1, max_size=4)
    lists = st.dictionaries(
        st.sampled_from(sorted(LIST_ELEMENTS)), st.lists(values, max_size=3), max_size=2
    )
    return st.builds(lambda first, second: {**first, **second}, plain, lists)


trees = dicts(st.recursive(xml_text, dicts, max_leaves=20))


@given(trees)
def test_any_tree_round_trips_through_xml(tree: Tree) -> None:
    assert parse_xml(render_xml(tree, root="operation")) == tree


@given(trees)
def test_any_tree_round_trips_through_json(tree: Tree) -> None:
    assert parse_json(render_json(tree)) == tree


def test_the_public_names_are_listed() -> None:
    assert all(hasattr(codec, name) for name in codec.__all__)
    assert sorted(codec.__all__) == codec.__all__
