"""Health, metrics and the AsyncAPI document on an address of their own (`OPS_HTTP_PORT`):
open there, absent beside the reads, and both servers stop on one SIGTERM."""

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from deploy.processes import ManagedProcess, free_port, wait_for_http
from shared.readers import add_token

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = ("/health/live", "/health/ready", "/metrics", "/docs/asyncapi.json")


async def test_operations_apart_from_the_reads(tmp_path):
    reads_port, ops_port = free_port(), free_port()
    token = add_token(tmp_path / "readers.yaml", "operator", ["operator"])
    env = {"PROBE_HTTP_PORT": str(reads_port), "PROBE_OPS_HTTP_PORT": str(ops_port),
           "PROBE_READERS_FILE": str(tmp_path / "readers.yaml")}
    proc = ManagedProcess("probe", [sys.executable, "-m", "tests.integration.ops_probe"], tmp_path / "probe.log",
                          env=env, cwd=ROOT).start()
    try:
        await wait_for_http(f"http://127.0.0.1:{ops_port}/health/ready", proc)
        async with httpx.AsyncClient(timeout=5.0) as http:
            for path in OPERATIONS:  # open, without a token
                assert (await http.get(f"http://127.0.0.1:{ops_port}{path}")).status_code == 200, path
                assert (await http.get(f"http://127.0.0.1:{reads_port}{path}")).status_code == 404, path
            assert (await http.get(f"http://127.0.0.1:{ops_port}/things")).status_code == 404
            assert (await http.get(f"http://127.0.0.1:{reads_port}/things")).status_code == 401
            mine = await http.get(f"http://127.0.0.1:{reads_port}/things", headers={"Authorization": f"Bearer {token}"})
            assert mine.json() == {"subject": "operator"}

        os.kill(proc.pid, signal.SIGTERM)
        # uvicorn raises the signal again once it has shut down gracefully: -SIGTERM is a clean stop.
        assert await asyncio.to_thread(proc.proc.wait, 15) in (0, -signal.SIGTERM), proc.tail()
        assert "Application shutdown complete" in proc.tail()
        for port in (reads_port, ops_port):
            try:
                await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
            raise AssertionError(f"port {port} still open after SIGTERM")
    finally:
        proc.stop()


async def test_without_a_port_of_their_own_they_answer_beside_the_reads(tmp_path):
    port = free_port()
    add_token(tmp_path / "readers.yaml", "operator", ["operator"])
    env = {"PROBE_HTTP_PORT": str(port), "PROBE_READERS_FILE": str(tmp_path / "readers.yaml")}
    proc = ManagedProcess("probe", [sys.executable, "-m", "tests.integration.ops_probe"], tmp_path / "probe.log",
                          env=env, cwd=ROOT).start()
    try:
        await wait_for_http(f"http://127.0.0.1:{port}/health/ready", proc)
        async with httpx.AsyncClient(timeout=5.0) as http:
            for path in OPERATIONS:
                assert (await http.get(f"http://127.0.0.1:{port}{path}")).status_code == 200, path
            assert (await http.get(f"http://127.0.0.1:{port}/things")).status_code == 401
    finally:
        proc.stop()


async def test_a_service_without_a_token_source_does_not_start(tmp_path):
    proc = ManagedProcess("probe", [sys.executable, "-m", "tests.integration.ops_probe"], tmp_path / "probe.log",
                          env={"PROBE_HTTP_PORT": str(free_port())}, cwd=ROOT).start()
    assert await asyncio.to_thread(proc.proc.wait, 30) != 0
    assert "reads need a token source" in proc.tail()
