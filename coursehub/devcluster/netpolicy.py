"""NetworkPolicy (``networking.k8s.io/v1``) as far as the dev cluster takes it: the API
server's defaults and validation, which policies select a pod, and the one verdict the kubelet
enforces.

Pure: plain dicts in, values out.

What is enforced (by the kubelet, at pod start), for a pod that at least one policy of its
namespace selects with ``Egress`` in ``policyTypes``:

- none of those policies has an egress rule: the pod has no egress at all. The kubelet runs
  it in a network namespace of its own with only loopback (which also cuts all ingress);
- every egress rule of those policies names single addresses (``ipBlock`` of a ``/32``,
  no ``except``) and TCP ports (a number, no ``endPort``): the pod may reach exactly those
  address and port pairs. The kubelet runs it in a network namespace of its own and relays
  each allowed pair to the machine's network (``egress.py``); nothing else answers.

:func:`pod_network` decides, failing closed when the kubelet cannot isolate. Every other
policy (ingress rules, egress rules with selectors, wider ipBlocks, ports of other protocols)
is stored and served but not enforced.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from coursehub.devcluster.selectors import label_selector_from_spec, label_selector_spec_errors

__all__ = [
    "EgressVerdict",
    "PodNetwork",
    "apply_defaults",
    "egress_verdict",
    "pod_network",
    "policy_types",
    "selects",
    "validation_errors",
]

POLICY_TYPES = ("Ingress", "Egress")
PROTOCOLS = ("TCP", "UDP", "SCTP")
_DIRECTIONS = {"ingress": "from", "egress": "to"}  # rule list -> its peers field


def policy_types(spec: dict) -> list[str]:
    """``spec.policyTypes`` as the API server defaults it: given, else ``Ingress`` plus
    ``Egress`` when the policy has egress rules."""
    given = spec.get("policyTypes")
    if given:
        return list(given)
    return ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def apply_defaults(policy: dict[str, Any]) -> None:
    """Fill what the API server defaults on a NetworkPolicy (mutates ``policy``)."""
    spec = policy.setdefault("spec", {})
    if not isinstance(spec, dict):
        return  # validation_errors says so
    if spec.get("podSelector") is None:
        spec["podSelector"] = {}  # a struct, not a pointer, in the API: always present
    if not spec.get("policyTypes"):
        spec["policyTypes"] = policy_types(spec)
    for direction in _DIRECTIONS:
        for rule in _list(spec.get(direction)):
            for port in _list(rule.get("ports") if isinstance(rule, dict) else None):
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")


def validation_errors(policy: dict[str, Any]) -> list[str]:
    """Field errors in a NetworkPolicy about to be stored; empty when valid."""
    spec = policy.get("spec")
    if not isinstance(spec, dict):
        return ["spec: Invalid value: must be an object"]
    errors = label_selector_spec_errors(spec.get("podSelector"), "spec.podSelector")
    types = spec.get("policyTypes") or []
    if not isinstance(types, list):
        errors.append("spec.policyTypes: Invalid value: must be a list")
        types = []
    for index, policy_type in enumerate(types):
        if policy_type not in POLICY_TYPES:
            errors.append(
                f'spec.policyTypes[{index}]: Unsupported value: "{policy_type}": '
                'supported values: "Ingress", "Egress"'
            )
    if len(types) > len(POLICY_TYPES):
        errors.append("spec.policyTypes: Invalid value: may not specify more than two policyTypes")
    for direction, peers in _DIRECTIONS.items():
        rules = spec.get(direction)
        if rules is not None and not isinstance(rules, list):
            errors.append(f"spec.{direction}: Invalid value: must be a list of rules")
            continue
        for index, rule in enumerate(rules or []):
            errors.extend(_rule_errors(rule, f"spec.{direction}[{index}]", peers))
    return errors


def selects(policy: dict, pod: dict) -> bool:
    """Whether ``policy`` applies to ``pod``: same namespace, and its ``podSelector``
    matches the pod's labels (an empty selector matches every pod of the namespace)."""
    if policy["metadata"].get("namespace") != pod["metadata"].get("namespace"):
        return False
    spec = policy.get("spec") or {}
    return label_selector_from_spec(spec.get("podSelector"), "spec.podSelector").matches(pod)


@dataclass(frozen=True)
class EgressVerdict:
    """What the policies of a namespace say about one pod's egress.

    ``isolating``: names of the selecting policies with ``Egress`` in ``policyTypes`` (the
    pod's egress is restricted to their rules). ``deny_all``: there are such policies and
    none of them has a rule, so the pod may send nothing at all.
    """

    isolating: tuple[str, ...]
    deny_all: bool
    # Every rule names single addresses and TCP ports: exactly these pairs are allowed.
    only: tuple[tuple[str, int], ...] | None = None


def egress_verdict(policies: Iterable[dict], pod: dict) -> EgressVerdict:
    """Policies are additive: any egress rule of any selecting policy allows something."""
    isolating = [
        policy
        for policy in policies
        if selects(policy, pod) and "Egress" in policy_types(policy.get("spec") or {})
    ]
    rules = [
        rule for policy in isolating for rule in _list((policy.get("spec") or {}).get("egress"))
    ]
    names = tuple(sorted(policy["metadata"]["name"] for policy in isolating))
    only = None
    if isolating and rules:
        pairs = [_pinpoint(rule) for rule in rules]
        if all(pair is not None for pair in pairs):
            only = tuple(sorted({p for pair in pairs for p in pair}))
    return EgressVerdict(names, deny_all=bool(isolating) and not rules, only=only)


def _pinpoint(rule: Any) -> list[tuple[str, int]] | None:
    """The (address, TCP port) pairs an egress rule allows, if it names nothing wider."""
    if not isinstance(rule, dict):
        return None
    peers, ports = _list(rule.get("to")), _list(rule.get("ports"))
    if not peers or not ports:
        return None  # "to anyone" or "on any port": not enforced here
    addresses = []
    for peer in peers:
        block = peer.get("ipBlock") if isinstance(peer, dict) else None
        if not isinstance(block, dict) or block.get("except") or len(peer) != 1:
            return None
        try:
            network = ipaddress.ip_network(str(block.get("cidr", "")), strict=False)
        except ValueError:
            return None
        if network.version != 4 or network.prefixlen != 32:
            return None
        addresses.append(str(network.network_address))
    numbers = []
    for port in ports:
        if not isinstance(port, dict) or port.get("protocol", "TCP") != "TCP":
            return None
        if port.get("endPort") is not None or not isinstance(port.get("port"), int):
            return None
        numbers.append(port["port"])
    return [(address, number) for address in addresses for number in numbers]


@dataclass(frozen=True)
class PodNetwork:
    """How the kubelet must start a pod: ``isolated`` (a network namespace of its own, only
    loopback) or on the machine's network; ``refusal`` says why it must not start at all."""

    isolated: bool
    refusal: str | None = None
    reason: str = ""  # for the pod's event: which policies isolate it
    allowed: tuple[tuple[str, int], ...] = ()  # (address, port) relayed out of its namespace


def pod_network(policies: Iterable[dict], pod: dict, can_isolate: bool) -> PodNetwork:
    """The network a pod starts with; fails closed when it must be isolated and cannot be."""
    verdict = egress_verdict(policies, pod)
    if not verdict.deny_all and verdict.only is None:
        return PodNetwork(isolated=False)
    named = ", ".join(f'"{name}"' for name in verdict.isolating)
    allows = "allows" if len(verdict.isolating) == 1 else "allow"
    plural = "y" if len(verdict.isolating) == 1 else "ies"
    if verdict.only:
        pairs = ", ".join(f"{address}:{port}" for address, port in verdict.only)
        reason = f"NetworkPolic{plural} {named} {allows} this pod egress to {pairs} only"
    else:
        reason = f"NetworkPolic{plural} {named} {allows} this pod no egress"
    if not can_isolate:
        return PodNetwork(
            isolated=True,
            refusal=(
                f"{reason}, but the dev cluster's kubelet cannot give the pod a network "
                "namespace of its own: it needs CAP_SYS_ADMIN and CAP_NET_ADMIN (run the dev "
                "cluster as root). The pod is not started rather than started with network "
                "access."
            ),
            reason=reason,
        )
    return PodNetwork(isolated=True, reason=reason, allowed=verdict.only or ())


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _rule_errors(rule: Any, field: str, peers_field: str) -> list[str]:
    if not isinstance(rule, dict):
        return [f"{field}: Invalid value: must be an object ({peers_field}, ports)"]
    errors = []
    ports = rule.get("ports")
    if ports is not None and not isinstance(ports, list):
        errors.append(f"{field}.ports: Invalid value: must be a list")
    for index, port in enumerate(_list(ports)):
        errors.extend(_port_errors(port, f"{field}.ports[{index}]"))
    peers = rule.get(peers_field)
    if peers is not None and not isinstance(peers, list):
        errors.append(f"{field}.{peers_field}: Invalid value: must be a list")
    for index, peer in enumerate(_list(peers)):
        errors.extend(_peer_errors(peer, f"{field}.{peers_field}[{index}]"))
    return errors


def _port_errors(port: Any, field: str) -> list[str]:
    if not isinstance(port, dict):
        return [f"{field}: Invalid value: must be an object (protocol, port, endPort)"]
    protocol = port.get("protocol", "TCP")
    if protocol not in PROTOCOLS:
        supported = ", ".join(f'"{name}"' for name in sorted(PROTOCOLS))
        return [f'{field}.protocol: Unsupported value: "{protocol}": supported values: {supported}']
    return []


def _peer_errors(peer: Any, field: str) -> list[str]:
    if not isinstance(peer, dict):
        return [f"{field}: Invalid value: must be an object"]
    errors = []
    for selector in ("podSelector", "namespaceSelector"):
        errors.extend(label_selector_spec_errors(peer.get(selector), f"{field}.{selector}"))
    block = peer.get("ipBlock")
    if block is not None:
        if any(peer.get(selector) is not None for selector in ("podSelector", "namespaceSelector")):
            errors.append(f"{field}: Forbidden: may not specify both ipBlock and another peer")
        errors.extend(_ip_block_errors(block, f"{field}.ipBlock"))
    elif peer.get("podSelector") is None and peer.get("namespaceSelector") is None:
        errors.append(f"{field}: Required value: must specify a peer")
    return errors


def _ip_block_errors(block: Any, field: str) -> list[str]:
    if not isinstance(block, dict):
        return [f"{field}: Invalid value: must be an object (cidr, except)"]
    try:
        network = ipaddress.ip_network(str(block.get("cidr", "")), strict=False)
    except ValueError:
        return [f'{field}.cidr: Invalid value: "{block.get("cidr", "")}": must be a valid CIDR']
    errors = []
    for index, excepted in enumerate(_list(block.get("except"))):
        try:
            excluded = ipaddress.ip_network(str(excepted), strict=False)
            inside = excluded != network and excluded.subnet_of(network)
        except (ValueError, TypeError):
            inside = False
        if not inside:
            errors.append(
                f'{field}.except[{index}]: Invalid value: "{excepted}": must be a strict subset '
                f'of `cidr` "{block["cidr"]}"'
            )
    return errors
