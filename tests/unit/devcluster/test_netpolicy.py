"""NetworkPolicy semantics: the API server's defaults and field errors, which policies select a
pod, and when the kubelet must cut a pod off the network (or refuse to start it)."""

import pytest

from coursehub.devcluster.netpolicy import (
    apply_defaults,
    egress_verdict,
    pod_network,
    selects,
    validation_errors,
)


def _policy(name="deny", namespace="grading", **spec):
    return {"metadata": {"name": name, "namespace": namespace}, "spec": spec}


def _pod(namespace="grading", **labels):
    return {"metadata": {"name": "p", "namespace": namespace, "labels": labels}}


DENY_ALL = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [], "egress": []}
GRADING = {"matchLabels": {"coursehub.io/component": "grading"}}


def test_defaults_follow_the_api_server():
    ingress_only = _policy(podSelector=GRADING)
    apply_defaults(ingress_only)
    assert ingress_only["spec"]["policyTypes"] == ["Ingress"]

    with_egress = _policy(egress=[{"ports": [{"port": 53}]}])
    apply_defaults(with_egress)
    spec = with_egress["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["podSelector"] == {}
    assert spec["egress"][0]["ports"] == [{"port": 53, "protocol": "TCP"}]

    given = _policy(policyTypes=["Egress"])
    apply_defaults(given)
    assert given["spec"]["policyTypes"] == ["Egress"]


def test_a_valid_policy_has_no_errors():
    policy = _policy(
        podSelector={
            "matchLabels": {"app": "grader"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}],
        },
        policyTypes=["Ingress", "Egress"],
        ingress=[{"from": [{"namespaceSelector": {}, "podSelector": GRADING}]}],
        egress=[
            {"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]},
            {"ports": [{"protocol": "UDP", "port": 53}]},
        ],
    )
    assert validation_errors(policy) == []


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        (
            {"policyTypes": ["Egres"]},
            (
                'spec.policyTypes[0]: Unsupported value: "Egres": supported values: "Ingress", '
                '"Egress"'
            ),
        ),
        (
            {"podSelector": {"matchExpressions": [{"key": "a", "operator": "Equals"}]}},
            (
                'spec.podSelector.matchExpressions[0].operator: Invalid value: "Equals": not a '
                "valid selector operator"
            ),
        ),
        (
            {"podSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}},
            (
                "spec.podSelector.matchExpressions[0].values: Required value: must be specified "
                "when `operator` is 'In' or 'NotIn'"
            ),
        ),
        (
            {
                "podSelector": {
                    "matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]
                }
            },
            (
                "spec.podSelector.matchExpressions[0].values: Forbidden: may not be specified "
                "when `operator` is 'Exists' or 'DoesNotExist'"
            ),
        ),
        (
            {"podSelector": {"matchLabels": {"app": "no spaces"}}},
            (
                'spec.podSelector.matchLabels[app]: Invalid value: "no spaces": not a valid label '
                "value"
            ),
        ),
        ({"egress": {"to": []}}, "spec.egress: Invalid value: must be a list of rules"),
        (
            {"egress": [{"ports": [{"protocol": "ICMP"}]}]},
            (
                'spec.egress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: '
                '"SCTP", "TCP", "UDP"'
            ),
        ),
        (
            {"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}]},
            (
                'spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.0/33": must be a '
                "valid CIDR"
            ),
        ),
        (
            {"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["11.0.0.0/8"]}}]}]},
            (
                'spec.egress[0].to[0].ipBlock.except[0]: Invalid value: "11.0.0.0/8": must be a '
                'strict subset of `cidr` "10.0.0.0/8"'
            ),
        ),
        ({"egress": [{"to": [{}]}]}, "spec.egress[0].to[0]: Required value: must specify a peer"),
    ],
)
def test_invalid_policies_name_the_field_at_fault(spec, error):
    assert validation_errors(_policy(**spec)) == [error]


def test_a_policy_without_a_spec_object_is_invalid():
    assert validation_errors({"metadata": {"name": "x"}, "spec": []}) == [
        "spec: Invalid value: must be an object"
    ]


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({}, {}, True),
        (None, {"any": "thing"}, True),
        (GRADING, {"coursehub.io/component": "grading"}, True),
        (GRADING, {"coursehub.io/component": "notebook"}, False),
        ({"matchExpressions": [{"key": "job", "operator": "Exists"}]}, {"job": "1"}, True),
        ({"matchExpressions": [{"key": "job", "operator": "Exists"}]}, {}, False),
        ({"matchExpressions": [{"key": "job", "operator": "DoesNotExist"}]}, {}, True),
        (
            {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}]},
            {},
            True,
        ),
        (
            {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}]},
            {"tier": "web"},
            False,
        ),
        (
            {
                "matchLabels": {"coursehub.io/component": "grading"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}],
            },
            {"coursehub.io/component": "grading", "tier": "c"},
            False,
        ),
    ],
)
def test_pod_selector_match_labels_and_expressions(selector, labels, expected):
    assert selects(_policy(podSelector=selector), _pod(**labels)) is expected


def test_a_policy_selects_only_pods_of_its_own_namespace():
    assert not selects(_policy(namespace="other", podSelector={}), _pod())


def test_deny_all_egress_needs_a_selecting_egress_policy_without_rules():
    pod = _pod(**{"coursehub.io/component": "grading"})
    deny = _policy("deny", **DENY_ALL)
    assert egress_verdict([deny], pod).deny_all
    assert egress_verdict([deny], pod).isolating == ("deny",)
    # No policy, or one that selects other pods: nothing restricts the pod.
    assert not egress_verdict([], pod).deny_all
    other = _policy("other", **{**DENY_ALL, "podSelector": {"matchLabels": {"app": "x"}}})
    assert not egress_verdict([other], pod).deny_all
    # Ingress-only policies say nothing about egress.
    ingress_only = _policy("in", podSelector={}, policyTypes=["Ingress"], ingress=[])
    assert egress_verdict([ingress_only], pod) == egress_verdict([], pod)


def test_policies_are_additive_any_egress_rule_lifts_deny_all():
    pod = _pod(**{"coursehub.io/component": "grading"})
    deny = _policy("deny", **DENY_ALL)
    dns = _policy(
        "allow-dns",
        podSelector={},
        policyTypes=["Egress"],
        egress=[{"ports": [{"protocol": "UDP", "port": 53}]}],
    )
    verdict = egress_verdict([deny, dns], pod)
    assert verdict.isolating == ("allow-dns", "deny") and not verdict.deny_all
    # Egress rules of a policy that does not list Egress in policyTypes are ignored.
    ignored = _policy("ignored", podSelector={}, policyTypes=["Ingress"], egress=[{}])
    assert egress_verdict([deny, ignored], pod).deny_all


def test_pod_network_isolates_when_it_can_and_fails_closed_when_it_cannot():
    pod = _pod()
    deny = _policy("grading", **DENY_ALL)
    assert pod_network([], pod, can_isolate=False) == pod_network([], pod, can_isolate=True)
    assert not pod_network([], pod, can_isolate=False).isolated

    isolated = pod_network([deny], pod, can_isolate=True)
    assert isolated.isolated and isolated.refusal is None
    assert isolated.reason == 'NetworkPolicy "grading" allows this pod no egress'

    refused = pod_network([deny], pod, can_isolate=False)
    assert refused.refusal is not None
    assert refused.refusal.startswith('NetworkPolicy "grading" allows this pod no egress')
    assert "CAP_SYS_ADMIN" in refused.refusal and "not started" in refused.refusal


def _to_service(cidr="127.0.0.1/32", port=8090, **rule):
    return {
        "to": [{"ipBlock": {"cidr": cidr}}],
        "ports": [{"protocol": "TCP", "port": port}],
        **rule,
    }


def test_egress_to_single_addresses_and_ports_is_enforced_as_exactly_those_pairs():
    pod = _pod()
    service = _policy("grading", **{**DENY_ALL, "egress": [_to_service()]})
    network = pod_network([service], pod, can_isolate=True)
    assert network.isolated and network.allowed == (("127.0.0.1", 8090),)
    assert network.reason == (
        'NetworkPolicy "grading" allows this pod egress to 127.0.0.1:8090 only'
    )
    # Policies add up: two rules, two pairs; still isolated.
    other = _policy("metrics", **{**DENY_ALL, "egress": [_to_service("10.0.0.9/32", 9100)]})
    both = pod_network([service, other], pod, can_isolate=True)
    assert both.allowed == (("10.0.0.9", 9100), ("127.0.0.1", 8090))
    # Without the means to isolate, the pod is refused rather than run open.
    refused = pod_network([service], pod, can_isolate=False)
    assert refused.refusal is not None and "not started" in refused.refusal


@pytest.mark.parametrize(
    "rule",
    [
        {"ports": [{"protocol": "TCP", "port": 53}]},  # any peer
        {"to": [{"ipBlock": {"cidr": "127.0.0.1/32"}}]},  # any port
        _to_service("10.0.0.0/8"),  # a range
        _to_service(port="http"),  # a named port
        {**_to_service(), "ports": [{"protocol": "UDP", "port": 53}]},
        {**_to_service(), "ports": [{"protocol": "TCP", "port": 8000, "endPort": 8100}]},
        {"to": [{"podSelector": {}}], "ports": [{"protocol": "TCP", "port": 8090}]},
        {"to": [{"ipBlock": {"cidr": "127.0.0.0/24", "except": ["127.0.0.2/32"]}}]},
    ],
)
def test_wider_egress_rules_are_stored_but_not_enforced(rule):
    pod = _pod()
    policy = _policy("wide", **{**DENY_ALL, "egress": [rule]})
    network = pod_network([policy], pod, can_isolate=True)
    assert not network.isolated and network.allowed == ()
    # One wide rule among pinpoint ones: the whole verdict is "not enforced", as before.
    pinpoint = _policy("grading", **{**DENY_ALL, "egress": [_to_service()]})
    assert not pod_network([pinpoint, policy], pod, can_isolate=True).isolated
