"""The kubelet's pools: pod addresses and GPU device indices (no processes)."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from coursehub.devcluster.kubelet import AddressPool, DevicePool, local_addresses_in_use

SMALL = ipaddress.ip_network("127.42.0.0/29")  # hosts .1-.6; .1 stays unused


def test_addresses_round_robin_without_reusing_a_freed_one_at_once():
    pool = AddressPool(SMALL, in_use=set, start=0)
    first, second = pool.take(), pool.take()
    assert (first, second) == ("127.42.0.2", "127.42.0.3")
    pool.give_back(first)
    assert pool.take() == "127.42.0.4"


def test_addresses_used_by_other_sockets_on_the_machine_are_skipped():
    pool = AddressPool(SMALL, in_use=lambda: {"127.42.0.2", "127.42.0.3"}, start=0)
    assert pool.take() == "127.42.0.4"


def test_a_full_pool_says_so():
    pool = AddressPool(SMALL, in_use=set, start=0)
    for _ in range(5):
        pool.take()
    with pytest.raises(RuntimeError, match="is full"):
        pool.take()


def test_local_addresses_in_use_sees_a_listening_socket():
    with socket.socket() as listener:
        listener.bind(("127.42.99.7", 0))
        listener.listen()
        assert "127.42.99.7" in local_addresses_in_use()


def test_devices_are_taken_lowest_first_per_node_and_resource_and_given_back():
    devices = DevicePool()
    assert devices.take("gpu-a100-1", "nvidia.com/gpu", 1) == [0]
    assert devices.take("gpu-a100-1", "nvidia.com/gpu", 1) == [1]
    assert devices.take("gpu-a100-2", "nvidia.com/gpu", 2) == [0, 1]
    devices.give_back("gpu-a100-1", "nvidia.com/gpu", [0])
    assert devices.take("gpu-a100-1", "nvidia.com/gpu", 1) == [0]
