"""A container's capabilities from its securityContext, as containerd and Docker compute them,
bounded by what the kubelet itself has."""

import pytest

from coursehub.devcluster.capabilities import (
    CAPABILITIES,
    RUNTIME_DEFAULT,
    CapabilityError,
    bits,
    container_capabilities,
    names,
    parse_status,
    to_drop,
)

EVERYTHING = (1 << (max(CAPABILITIES.values()) + 1)) - 1
# This machine's kubelet, for instance: everything but SYS_RESOURCE.
NO_SYS_RESOURCE = EVERYTHING & ~bits({"SYS_RESOURCE"})


def caps(context, available=EVERYTHING):
    return container_capabilities(context, available)


def test_the_runtime_default_is_the_docker_and_containerd_set():
    assert bits(RUNTIME_DEFAULT) == 0xA80425FB  # CapBnd of a default Docker container
    assert caps(None).bounding == caps({}).bounding == 0xA80425FB
    assert caps({"capabilities": {}}).bounding == 0xA80425FB


def test_drop_all_then_add_keeps_exactly_the_added():
    granted = caps({"capabilities": {"drop": ["ALL"], "add": ["SETUID"]}})
    assert names(granted.bounding) == ["SETUID"]
    grading = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID"]
    assert names(caps({"capabilities": {"drop": ["ALL"], "add": grading}}).bounding) == grading
    assert caps({"capabilities": {"drop": ["ALL"]}}).bounding == 0


def test_names_with_or_without_the_prefix_in_any_case():
    for name in ("SYS_ADMIN", "CAP_SYS_ADMIN", "sys_admin", "cap_sys_admin"):
        granted = caps({"capabilities": {"add": [name]}})
        assert granted.bounding == 0xA80425FB | bits({"SYS_ADMIN"})


def test_dropping_by_name_removes_from_the_default():
    granted = caps({"capabilities": {"drop": ["NET_RAW", "CAP_MKNOD"]}})
    assert granted.bounding == 0xA80425FB & ~bits({"NET_RAW", "MKNOD"})


def test_add_all_keeps_everything_but_what_is_dropped_by_name():
    granted = caps({"capabilities": {"add": ["ALL"], "drop": ["CHOWN"]}})
    assert granted.bounding == EVERYTHING & ~bits({"CHOWN"})


def test_privileged_keeps_all_the_kubelet_has_whatever_else_is_said():
    context = {"privileged": True, "capabilities": {"drop": ["ALL"]}}
    assert caps(context, NO_SYS_RESOURCE).bounding == NO_SYS_RESOURCE
    assert caps({"privileged": False}).bounding == 0xA80425FB


def test_what_the_kubelet_lacks_is_left_out_and_reported():
    granted = caps({"capabilities": {"add": ["SYS_RESOURCE", "SYS_ADMIN"]}}, NO_SYS_RESOURCE)
    assert granted.unavailable == ("SYS_RESOURCE",)
    assert granted.bounding == 0xA80425FB | bits({"SYS_ADMIN"})
    assert caps({"capabilities": {"add": ["ALL"]}}, NO_SYS_RESOURCE).unavailable == ()


@pytest.mark.parametrize(
    ("context", "error"),
    [
        (
            {"capabilities": {"add": ["SETUID", "FLY"]}},
            (
                'spec.containers[0].securityContext.capabilities.add[1]: Unsupported value: "FLY": '
                "not a Linux capability"
            ),
        ),
        (
            {"capabilities": {"drop": "ALL"}},
            (
                "spec.containers[0].securityContext.capabilities.drop: Invalid value: must be a "
                "list of capability names"
            ),
        ),
        (
            {"capabilities": ["SETUID"]},
            "spec.containers[0].securityContext.capabilities: Invalid value: must be an object",
        ),
    ],
)
def test_bad_capabilities_name_the_field(context, error):
    with pytest.raises(CapabilityError) as caught:
        container_capabilities(context, EVERYTHING, "spec.containers[0].securityContext")
    assert str(caught.value) == error


def test_to_drop_lists_what_the_bounding_set_must_lose():
    assert to_drop(0b1011, 0b0010) == (0, 3)
    assert to_drop(0xA80425FB, 0xA80425FB) == ()
    assert to_drop(NO_SYS_RESOURCE, bits({"SETUID"})) == tuple(
        number for number in range(41) if number not in (7, 24)
    )


def test_parse_status_reads_the_kubelets_sets():
    text = "Name:\tpython\nCapInh:\t0000000000000000\nCapEff:\t000001fffeffffff\n"
    text += "CapBnd:\t000001fffeffffff\nCapAmb:\t0000000000000000\n"
    sets = parse_status(text)
    assert sets.bounding == sets.effective == 0x1FFFEFFFFFF
    assert sets.has("SYS_ADMIN", "NET_ADMIN") and not sets.has("SYS_RESOURCE")
