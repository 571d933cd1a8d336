"""Server-side Tables print what kubectl users expect to read."""

from datetime import UTC, datetime, timedelta

import pytest

from coursehub.devcluster.tables import human_age, to_table, wants_table

NOW = datetime(2025, 1, 10, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (5, "5s"),
        (119, "119s"),
        (303, "5m3s"),
        (1800, "30m"),
        (3 * 3600 + 60, "3h1m"),
        (20 * 3600, "20h"),
        (3 * 86400 + 7200, "3d2h"),
        (40 * 86400, "40d"),
    ],
)
def test_human_age_matches_kubectl(seconds, expected):
    then = (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert human_age(then, now=NOW) == expected
    assert human_age(None) == "<unknown>"


def test_wants_table_reads_the_accept_header():
    assert wants_table("application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
    assert not wants_table("application/json")
    assert not wants_table(None)


def _pod(**status):
    return {
        "metadata": {
            "name": "nb",
            "namespace": "ai-101",
            "creationTimestamp": "2025-01-01T00:00:00Z",
        },
        "spec": {"containers": [{"name": "notebook"}], "nodeName": "gpu-1"},
        "status": status,
    }


@pytest.mark.parametrize(
    ("status", "ready", "shown"),
    [
        ({"phase": "Pending"}, "0/1", "Pending"),
        (
            {
                "phase": "Pending",
                "containerStatuses": [
                    {"name": "notebook", "state": {"waiting": {"reason": "ContainerCreating"}}}
                ],
            },
            "0/1",
            "ContainerCreating",
        ),
        (
            {
                "phase": "Running",
                "containerStatuses": [
                    {"name": "notebook", "ready": True, "restartCount": 2, "state": {"running": {}}}
                ],
            },
            "1/1",
            "Running",
        ),
        (
            {
                "phase": "Failed",
                "containerStatuses": [
                    {"name": "notebook", "state": {"terminated": {"exitCode": 3}}}
                ],
            },
            "0/1",
            "ExitCode:3",
        ),
    ],
)
def test_pod_rows(status, ready, shown):
    table = to_table("pods", [_pod(**status)], "7")
    cells = table["rows"][0]["cells"]
    assert cells[:3] == ["nb", ready, shown]
    assert cells[6] == "gpu-1"
    assert table["rows"][0]["object"]["metadata"]["namespace"] == "ai-101"
    assert [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0] == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
        "Age",
    ]


def test_terminating_pod_and_generic_table():
    pod = _pod(phase="Running")
    pod["metadata"]["deletionTimestamp"] = "2025-01-01T00:01:00Z"
    assert to_table("pods", [pod], "1")["rows"][0]["cells"][2] == "Terminating"
    generic = to_table("unknownthings", [pod], "1", include_object="None")
    assert [c["name"] for c in generic["columnDefinitions"]] == ["Name", "Age"]
    assert "object" not in generic["rows"][0]


def test_network_policies_show_their_pod_selector():
    def policy(name, selector):
        return {
            "metadata": {"name": name, "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"podSelector": selector},
        }

    table = to_table(
        "networkpolicies",
        [
            policy("all", {}),
            policy("grading", {"matchLabels": {"coursehub.io/component": "grading"}}),
            policy(
                "expr",
                {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]},
            ),
        ],
        "7",
    )
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Pod-Selector", "Age"]
    assert [row["cells"][:2] for row in table["rows"]] == [
        ["all", "<none>"],
        ["grading", "coursehub.io/component=grading"],
        ["expr", "tier in (a,b)"],
    ]


def test_storage_classes_print_as_kubectl_prints_them_default_marked():
    default = {
        "metadata": {
            "name": "standard",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            "creationTimestamp": "2025-01-10T11:00:00Z",
        },
        "provisioner": "coursehub.dev/folder",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
        "allowVolumeExpansion": False,
    }
    other = {"metadata": {"name": "fast"}, "provisioner": "ebs.csi.aws.com"}
    table = to_table("storageclasses", [default, other], "7")
    names = [column["name"] for column in table["columnDefinitions"]]
    assert names == [
        "Name",
        "Provisioner",
        "ReclaimPolicy",
        "VolumeBindingMode",
        "AllowVolumeExpansion",
        "Age",
    ]
    first, second = (row["cells"] for row in table["rows"])
    assert first[:5] == ["standard (default)", "coursehub.dev/folder", "Delete", "Immediate", False]
    assert second[:5] == ["fast", "ebs.csi.aws.com", "Delete", "Immediate", False]
