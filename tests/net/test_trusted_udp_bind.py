"""Trusted networks, the UDP listener, and bind errors that name the fix."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import pytest

from polyport.net.listener import Limits, ListenError, TcpListener
from polyport.net.trusted import TrustedNetworks, default_networks
from polyport.net.udp import DatagramEndpoint, UdpListener
from tests.net.echo_protocol import EchoHandler


def test_trusted_networks_match_both_families_and_mapped_addresses() -> None:
    trusted = TrustedNetworks.from_config(["10.0.0.0/8", "2001:db8::/32"])
    assert "10.1.2.3" in trusted
    assert "::ffff:10.1.2.3" in trusted
    assert "2001:db8::5" in trusted
    assert "fe80::1%eth0" not in trusted
    assert "11.0.0.1" not in trusted
    assert "not an address" not in trusted


def test_default_trusted_networks_are_loopback_and_this_host() -> None:
    networks = default_networks()
    assert ipaddress.ip_network("127.0.0.0/8") in networks
    assert ipaddress.ip_network("::1/128") in networks
    assert all(n.num_addresses == 1 for n in networks if not n.is_loopback)
    trusted = TrustedNetworks(networks)
    assert "127.0.0.1" in trusted and "8.8.8.8" not in trusted


class UdpEcho:
    def datagram(self, data: bytes, addr: tuple[str, int], endpoint: DatagramEndpoint) -> None:
        endpoint.send(b"echo:" + data, addr)


async def udp_exchange(port: int, payload: bytes) -> bytes | None:
    loop = asyncio.get_running_loop()
    received: asyncio.Future[bytes] = loop.create_future()

    class Receiver(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            if not received.done():
                received.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(Receiver, remote_addr=("127.0.0.1", port))
    transport.sendto(payload)
    try:
        return await asyncio.wait_for(received, 0.5)
    except TimeoutError:
        return None
    finally:
        transport.close()


async def test_udp_listener_answers_and_trusted_only_drops() -> None:
    open_one = UdpListener("echo", UdpEcho(), host="127.0.0.1", port=0,
                           trusted=TrustedNetworks.from_config([]), trusted_only=False)
    await open_one.start()
    assert await udp_exchange(open_one.port, b"ping") == b"echo:ping"
    await open_one.stop_accepting()
    closed = UdpListener("echo", UdpEcho(), host="127.0.0.1", port=0,
                         trusted=TrustedNetworks.from_config(["10.0.0.0/8"]), trusted_only=True)
    await closed.start()
    assert await udp_exchange(closed.port, b"ping") is None
    await closed.stop_accepting()


async def test_a_port_in_use_is_named_with_the_fix() -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        listener = TcpListener("smtp", EchoHandler(), host="127.0.0.1", port=port, limits=Limits(),
                               trusted=TrustedNetworks([]), trusted_only=False)
        with pytest.raises(ListenError, match=rf"port {port}/tcp \(smtp\).*already in use.*--port-offset"):
            await listener.start()
    finally:
        holder.close()


async def test_an_address_not_on_this_host_is_named() -> None:
    listener = TcpListener("imap", EchoHandler(), host="192.0.2.77", port=0, limits=Limits(),
                           trusted=TrustedNetworks([]), trusted_only=False)
    with pytest.raises(ListenError, match=r"192\.0\.2\.77 is not on this host.*--bind"):
        await listener.start()
