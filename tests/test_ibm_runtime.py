"""IBM runtime path: SamplerV2 on fake backends (offline), counts format, missing credentials."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister

from qnewton.errors import UsageError
from qnewton.quantum.ibm import RuntimeExecutor, make_runtime_executor
from qnewton.quantum.ibm_account import fake_backend_class_name, parse_spec


@pytest.fixture
def no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No token in the environment, and the saved-account file points into an empty directory."""
    for var in ("QISKIT_IBM_TOKEN", "QISKIT_IBM_CHANNEL", "QISKIT_IBM_INSTANCE"):
        monkeypatch.delenv(var, raising=False)
    empty = tmp_path / "empty_home"
    empty.mkdir()
    monkeypatch.setenv("QNEWTON_IBM_ACCOUNT_FILE", str(empty / "qiskit-ibm.json"))
    monkeypatch.setenv("HOME", str(empty))
    return empty


def test_fake_backend_names() -> None:
    assert fake_backend_class_name("fake_sherbrooke") == "FakeSherbrooke"
    assert fake_backend_class_name("sherbrooke") == "FakeSherbrooke"
    assert fake_backend_class_name("fake_manila") == "FakeManilaV2"
    assert fake_backend_class_name("FakeManilaV2") == "FakeManilaV2"
    with pytest.raises(UsageError, match="no fake backend 'fake_atlantis'"):
        fake_backend_class_name("fake_atlantis")
    assert parse_spec("ibm:ibm_torino") == ("ibm", "ibm_torino")
    for bad in ("torino", "aws:x", "ibm:", "fake: "):
        with pytest.raises(UsageError, match="backend: expected"):
            parse_spec(bad)


def test_fake_backend_runs_through_sampler_v2() -> None:
    stream = io.StringIO()
    ex = make_runtime_executor("fake:fake_manila", seed=7, stream=stream)
    assert isinstance(ex, RuntimeExecutor)
    assert ex.name == "fake:fake_manila" and ex.target.num_qubits == 5
    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    bell.measure_all()
    one = QuantumCircuit(1)
    one.x(0)
    one.measure_all()
    counts = ex.run_counts([bell, one], shots=2000)
    assert [sum(c.values()) for c in counts] == [2000, 2000]
    assert counts[0].get("00", 0) + counts[0].get("11", 0) > 0.85 * 2000
    assert 0.35 < counts[0].get("00", 0) / 2000 < 0.65
    assert counts[1].get("1", 0) > 0.9 * 2000
    assert ex.last_job_id and all(len(k) == 2 for k in counts[0])
    assert "DONE" in stream.getvalue() and ex.last_job_id in stream.getvalue()
    # same seed, same counts (local mode is deterministic)
    again = make_runtime_executor("fake:fake_manila", seed=7, progress=False).run_counts([bell], shots=2000)
    assert again[0] == counts[0]


def test_counts_format_matches_aer_with_several_registers() -> None:
    from qiskit_aer import AerSimulator

    q = QuantumRegister(3)
    a, b = ClassicalRegister(2, "a"), ClassicalRegister(1, "b")
    qc = QuantumCircuit(q, a, b)
    qc.x(0)
    qc.x(2)
    qc.measure(0, a[0])
    qc.measure(1, a[1])
    qc.measure(2, b[0])
    aer_key = next(iter(AerSimulator().run(qc, shots=10).result().get_counts()))
    counts = make_runtime_executor("fake:fake_manila", seed=3, progress=False, mode="session").run_counts([qc], shots=1000)[0]
    assert aer_key == "1 01"
    assert max(counts, key=counts.get) == aer_key
    assert all(len(k.split(" ")) == 2 for k in counts)


def test_runtime_executor_validation() -> None:
    ex = make_runtime_executor("fake:fake_manila", progress=False)
    with pytest.raises(UsageError, match="shots"):
        ex.run_counts([QuantumCircuit(1, 1)], shots=0)
    no_measure = QuantumCircuit(1)
    with pytest.raises(UsageError, match="no measurements"):
        ex.run_counts([no_measure], shots=10)
    big = QuantumCircuit(8, 8)
    big.measure(range(8), range(8))
    with pytest.raises(UsageError, match="needs 8 qubits, backend fake:fake_manila has 5"):
        ex.run_counts([big], shots=10)
    with pytest.raises(UsageError, match="mode"):
        make_runtime_executor("fake:fake_manila", mode="dedicated")  # type: ignore[arg-type]


def test_backends_module_delegates_fake_specs() -> None:
    from qnewton.quantum.backends import make_executor

    ex = make_executor("fake:fake_manila", seed=1)
    assert isinstance(ex, RuntimeExecutor) and ex.target is not None


def test_missing_credentials_is_one_clear_line(no_credentials: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UsageError) as err:
        make_runtime_executor("ibm:ibm_sherbrooke")
    msg = str(err.value)
    assert "\n" not in msg
    assert "credentials not found" in msg and "QISKIT_IBM_TOKEN" in msg
    assert str(no_credentials / "qiskit-ibm.json") in msg

    from qnewton.cli import main

    for argv in (
        ["calibration", "export", "--backend", "ibm:ibm_sherbrooke"],
        ["circuit", "solve", "A.npy", "b.npy", "--backend", "ibm:ibm_sherbrooke"],
    ):
        capsys.readouterr()
        if argv[0] == "circuit":
            d = no_credentials
            np.save(d / "A.npy", np.array([[2.0, 0.5], [0.5, 1.0]]))
            np.save(d / "b.npy", np.array([1.0, 0.5]))
            argv = argv[:2] + [str(d / "A.npy"), str(d / "b.npy")] + argv[4:]
        assert main(argv) == 2
        err_text = capsys.readouterr().err
        assert "Traceback" not in err_text
        assert err_text.count("\n") == 1 and "credentials not found" in err_text


def test_empty_saved_account_file_counts_as_missing(no_credentials: Path) -> None:
    (no_credentials / "qiskit-ibm.json").write_text("{}")
    with pytest.raises(UsageError, match="credentials not found"):
        make_runtime_executor("ibm:ibm_brisbane")


def test_circuit_solve_on_fake_backend_matches_statevector(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """End to end: `qnewton circuit solve --backend fake:fake_manila` (SamplerV2 path) vs statevector.

    The noisy device keeps the solution's direction; the norm recovered from the post-selection
    rate is biased by noise (depolarization pushes the ancilla towards 50/50), so the direction
    is what is compared, as fidelity and as normalized-vector distance.
    """
    from qnewton.cli import main

    A = np.array([[2.0, 0.5], [0.5, 1.0]])
    b = np.array([1.0, 0.5])
    np.save(tmp_path / "A.npy", A)
    np.save(tmp_path / "b.npy", b)
    results = {}
    for backend in ("statevector", "fake:fake_manila"):
        capsys.readouterr()
        rc = main(["circuit", "solve", str(tmp_path / "A.npy"), str(tmp_path / "b.npy"), "--method", "qsvt",
                   "--backend", backend, "--seed", "5", "--json", "--no-resources"])
        out = capsys.readouterr()
        assert rc == 0, out.err
        results[backend] = json.loads(out.out)
    sv, fk = results["statevector"], results["fake:fake_manila"]
    assert fk["backend"] == "fake:fake_manila" and fk["shots"] > 0
    x_sv, x_fk = np.array(sv["solution"]), np.array(fk["solution"])
    x_true = np.linalg.solve(A, b)
    assert np.linalg.norm(x_sv - x_true) / np.linalg.norm(x_true) < 0.02
    u_sv, u_fk = x_sv / np.linalg.norm(x_sv), x_fk / np.linalg.norm(x_fk)
    assert np.linalg.norm(u_fk - u_sv) < 0.15
    assert fk["fidelity"] > 0.97


class _StubService:
    """Stands in for QiskitRuntimeService: hands out a fake backend as if it were live."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def backend(self, name: str):
        from qiskit_ibm_runtime.fake_provider import FakeManilaV2

        self.asked.append(name)
        if name != "ibm_manila":
            raise KeyError(f"no backend {name}\nsecond line")
        return FakeManilaV2()


def test_live_path_with_a_stub_service(capsys: pytest.CaptureFixture[str]) -> None:
    from qnewton.calibrate.export import export_profile

    svc = _StubService()
    stream = io.StringIO()
    ex = make_runtime_executor("ibm:ibm_manila", service=svc, seed=2, poll_seconds=0.01, stream=stream)
    assert ex.device == "QPU" and svc.asked == ["ibm_manila"]
    qc = QuantumCircuit(1)
    qc.x(0)
    qc.measure_all()
    counts = ex.run_counts([qc], shots=500)[0]
    assert sum(counts.values()) == 500 and counts.get("1", 0) > 450
    assert "[ibm:ibm_manila] job" in stream.getvalue() and "DONE" in stream.getvalue()
    data = export_profile("ibm:ibm_manila", service=svc)
    assert data["num_qubits"] == 5 and "QiskitRuntimeService().backend('fake_manila')" in data["source"]
    with pytest.raises(UsageError) as err:
        make_runtime_executor("ibm:ibm_nowhere", service=svc)
    assert "no backend 'ibm_nowhere'" in str(err.value) and "\n" not in str(err.value)


def test_token_without_network_is_one_line(monkeypatch: pytest.MonkeyPatch, no_credentials: Path) -> None:
    import qiskit_ibm_runtime

    class Unreachable:
        def __init__(self, **kwargs) -> None:
            assert kwargs["token"] == "abc" and kwargs["channel"] == "ibm_quantum_platform"
            raise ConnectionError("HTTPSConnectionPool(host='quantum.cloud.ibm.com'): Max retries exceeded\ndetails")

    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", Unreachable)
    monkeypatch.setenv("QISKIT_IBM_TOKEN", "abc")
    with pytest.raises(UsageError) as err:
        make_runtime_executor("ibm:ibm_sherbrooke")
    msg = str(err.value)
    assert msg.startswith("cannot connect to IBM Quantum (ConnectionError: HTTPSConnectionPool") and "\n" not in msg


def test_runtime_log_lines_are_silenced_while_connecting(monkeypatch: pytest.MonkeyPatch, no_credentials: Path) -> None:
    """qiskit-ibm-runtime logs 'Loading account with the given token' at WARNING to stderr; with a
    bad token that line came before our one-line error. It must be off while connecting, and back after."""
    import logging

    import qiskit_ibm_runtime

    seen: list[bool] = []

    class BadToken:
        def __init__(self, **kwargs) -> None:
            seen.append(logging.getLogger("qiskit_ibm_runtime.qiskit_runtime_service").isEnabledFor(logging.WARNING))
            raise ValueError("Unable to retrieve instances. Please check that you are using a valid API token.")

    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", BadToken)
    monkeypatch.setenv("QISKIT_IBM_TOKEN", "abc")
    logger = logging.getLogger("qiskit_ibm_runtime")
    level = logger.level
    with pytest.raises(UsageError, match="cannot connect to IBM Quantum"):
        make_runtime_executor("ibm:ibm_sherbrooke")
    assert seen == [False]
    assert logger.level == level


def test_session_mode_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`circuit solve --backend fake:NAME --ibm-mode session` goes through a runtime Session."""
    from qnewton.cli import main
    from qnewton.quantum.backends import make_executor
    from qnewton.solvers.circuit import CircuitSolver

    assert CircuitSolver("qsvt", "fake:fake_manila", runtime_mode="session").executor.mode == "session"
    with pytest.raises(UsageError, match="runtime_mode"):
        make_executor("statevector", runtime_mode="session")
    A = np.array([[2.0, 0.5], [0.5, 1.0]])
    b = np.array([1.0, 0.0])
    np.save(tmp_path / "A.npy", A)
    np.save(tmp_path / "b.npy", b)
    capsys.readouterr()
    rc = main(["circuit", "solve", str(tmp_path / "A.npy"), str(tmp_path / "b.npy"), "--method", "qsvt",
               "--backend", "fake:fake_manila", "--ibm-mode", "session", "--shots", "2000", "--seed", "1",
               "--no-resources", "--json"])
    cap = capsys.readouterr()
    assert rc == 0
    assert "(session," in cap.err and "(batch," not in cap.err
    out = json.loads(cap.out)
    # a noisy 5-qubit snapshot: check the path and the shape of the answer, not its accuracy
    assert len(out["solution"]) == 2 and np.all(np.isfinite(out["solution"]))
    assert 0 < out["success_probability"] < 1 and out["shots"] >= 4000
