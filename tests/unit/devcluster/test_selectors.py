"""Label and field selectors match objects the way Kubernetes' do."""

import pytest

from coursehub.devcluster.selectors import (
    SelectorError,
    field_value,
    label_selector_from_spec,
    label_selector_spec_errors,
    parse_field_selector,
    parse_label_selector,
)


def _obj(labels=None, **fields):
    return {"metadata": {"name": "nb-1", "namespace": "ai-101", "labels": labels or {}}, **fields}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("", {}, True),
        ("component=singleuser-server", {"component": "singleuser-server"}, True),
        ("component==singleuser-server", {"component": "singleuser-server"}, True),
        ("component=singleuser-server", {"component": "hub"}, False),
        ("component!=hub", {"component": "singleuser-server"}, True),
        ("component!=hub", {}, True),
        ("component!=hub", {"component": "hub"}, False),
        ("course in (ai-101, ai-102)", {"course": "ai-102"}, True),
        ("course in (ai-101,ai-102)", {"course": "ml-200"}, False),
        ("course notin (ai-101)", {}, True),
        ("course notin (ai-101)", {"course": "ai-101"}, False),
        ("gpu", {"gpu": ""}, True),
        ("gpu", {}, False),
        ("!gpu", {}, True),
        ("!gpu", {"gpu": "a100"}, False),
        ("a=1,course in (x,y),!gpu", {"a": "1", "course": "y"}, True),
        ("a=1,course in (x,y),!gpu", {"a": "1", "course": "y", "gpu": "1"}, False),
        ("hub.jupyter.org/username=alice", {"hub.jupyter.org/username": "alice"}, True),
    ],
)
def test_label_selector_matches(selector, labels, expected):
    assert parse_label_selector(selector).matches(_obj(labels)) is expected


@pytest.mark.parametrize("selector", ["a=(", "in (x)", "a=b c", "course in (a,b"])
def test_bad_label_selector_names_the_clause(selector):
    with pytest.raises(SelectorError, match="selector"):
        parse_label_selector(selector)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("metadata.name=nb-1", True),
        ("metadata.name==nb-2", False),
        ("metadata.namespace=ai-101,metadata.name!=nb-2", True),
        ("spec.nodeName=", True),
        ("spec.nodeName!=", False),
        ("status.phase=Running", False),
        ("involvedObject.kind=Pod", False),
    ],
)
def test_field_selector_matches(selector, expected):
    assert parse_field_selector(selector).matches(_obj(spec={})) is expected


def test_field_selector_reads_nested_event_fields():
    event = _obj(involvedObject={"kind": "Pod", "name": "nb-1", "uid": "u1"})
    selector = parse_field_selector("involvedObject.kind=Pod,involvedObject.uid=u1")
    assert selector.matches(event)
    assert not parse_field_selector("involvedObject.name=other").matches(event)


def test_field_value_renders_scalars_as_strings():
    obj = {"spec": {"unschedulable": True, "priority": 0, "nodeName": None}}
    assert field_value(obj, "spec.unschedulable") == "true"
    assert field_value(obj, "spec.priority") == "0"
    assert field_value(obj, "spec.nodeName") == ""
    assert field_value(obj, "spec.missing.deeper") == ""


@pytest.mark.parametrize("selector", ["metadata.name", "=x", "metadata..name=x"])
def test_bad_field_selector(selector):
    with pytest.raises(SelectorError, match="field"):
        parse_field_selector(selector)


def test_structured_selector_matches_like_the_string_form():
    spec = {
        "matchLabels": {"component": "grader"},
        "matchExpressions": [
            {"key": "course", "operator": "In", "values": ["ai-101", "ai-102"]},
            {"key": "tier", "operator": "NotIn", "values": ["web"]},
            {"key": "job", "operator": "Exists"},
            {"key": "gpu", "operator": "DoesNotExist"},
        ],
    }
    selector = label_selector_from_spec(spec)
    matching = {"component": "grader", "course": "ai-102", "job": "7"}
    assert selector.matches(_obj(matching))
    assert not selector.matches(_obj({**matching, "gpu": "a100"}))
    assert not selector.matches(_obj({**matching, "tier": "web"}))
    assert not selector.matches(_obj({**matching, "course": "ml-200"}))
    assert str(selector) == "component=grader,course in (ai-101,ai-102),!gpu,job,tier notin (web)"
    reparsed = parse_label_selector(str(selector))
    assert set(reparsed.requirements) == set(selector.requirements)


def test_empty_structured_selector_matches_everything_and_prints_empty():
    for spec in (None, {}, {"matchLabels": {}, "matchExpressions": []}):
        assert label_selector_from_spec(spec).matches(_obj({"x": "1"}))
        assert str(label_selector_from_spec(spec)) == ""


def test_malformed_structured_selector_names_the_field():
    spec = {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}
    with pytest.raises(SelectorError, match=r"spec.podSelector.matchExpressions\[0\].operator"):
        label_selector_from_spec(spec, "spec.podSelector")
    assert label_selector_spec_errors({"matchLabels": ["a"]}, "sel") == [
        "sel.matchLabels: Invalid value: must be a map of label keys to values"
    ]
