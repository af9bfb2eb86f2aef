"""The Helm chart, rendered by real Helm (Helm v4's Go SDK, bundled by `helm-python-sdk`),
validated against the Kubernetes OpenAPI schemas (`kubernetes-validate`, strict: unknown
fields refused), and read back the way a pod would: the rendered ConfigMap's file, the
container's env and the Secret volumes' paths go through authbridge's own loader.

What this cannot show: that a cluster accepts it (no API server here), nor the
ServiceMonitor against the Prometheus Operator's CRD (not bundled by kubernetes-validate;
its fields are checked by hand below).

Longer than most test modules on purpose: one chart, one render helper, and the pod's-eye
view (`pod_view`) shared by the loader round trips; split, they would import each other.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from authbridge.config import load_with_report
from authbridge.directory.bootstrap import BootstrapAdmin
from tests.deploy.conftest import CHART, SEEDS

# The chart's kubeVersion floor and the newest schemas kubernetes-validate bundles.
KUBE_VERSIONS = ("1.25.0", kubernetes_validate.latest_version())
SECRETS_DIR = "/run/secrets/authbridge"
DATABASE = {"envName": "DATABASE__URL", "secretName": "authbridge-db", "secretKey": "url"}

EVERYTHING_ON: dict[str, Any] = {
    "replicaCount": 3,
    "secret": [DATABASE],
    "bootstrapAdmin": {"email": "admin@example.com", "existingSecret": "authbridge-admin"},
    "ingress": {
        "enabled": True,
        "className": "nginx",
        "hosts": [{"host": "auth.example.com", "paths": [{"path": "/", "pathType": "Prefix"}]}],
        "tls": [{"hosts": ["auth.example.com"], "secretName": "auth-tls"}],
    },
    "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 6},
    "networkPolicy": {
        "enabled": True,
        "ingressFrom": [{"namespaceSelector": {"matchLabels": {"name": "ingress-nginx"}}}],
    },
    "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
    "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
}


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    """`helm template ab <chart> -n auth -f values` (real Helm), as Kubernetes objects."""
    with helm.Chart.load(CHART) as chart:
        rendered = chart.render(values, name="ab", namespace="auth", is_install=True)
    docs = []
    for path, text in sorted(rendered.items()):
        if path.endswith(".txt"):
            continue
        docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


def one(docs: list[dict[str, Any]], kind: str, name: str = "ab-authbridge") -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def containers(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Every (workload, pod spec, container) the release runs, init containers included."""
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            spec = doc["spec"]["template"]["spec"]
            for container in spec.get("initContainers", []) + spec["containers"]:
                yield f"{doc['kind']}/{doc['metadata']['name']}", spec, container


def seed(path: str) -> dict[str, Any]:
    file = SEEDS / path
    data = (
        json.loads(file.read_text()) if file.suffix == ".json" else yaml.safe_load(file.read_text())
    )
    assert isinstance(data, dict)
    return data


# The seeds' values files, each as a platform team would pass it with `-f`; custom-flow is
# the `auth:` block Astronomer puts under houston.config, so it is the chart's `config`.
SEED_VALUES = {
    **{
        f"astronomer/{name}": seed(f"astronomer/{name}")
        for name in (
            "auth0.yaml",
            "cognito.yaml",
            "entra.yaml",
            "generic-oidc.yaml",
            "local.yaml",
            "okta.yaml",
            "okta-client-secret.yaml",
            "proxy-env.yaml",
            "scim-microsoft-secret.yaml",
            "scim-okta-secret.yaml",
        )
    },
    "astronomer/custom-flow.yaml (as config)": {"config": seed("astronomer/custom-flow.yaml")},
    "openmetadata/okta-public.yaml": seed("openmetadata/okta-public.yaml"),
    "openmetadata/okta-confidential.yaml": seed("openmetadata/okta-confidential.yaml"),
    "pachyderm/okta-upstream-idps.yaml": seed("pachyderm/okta-upstream-idps.yaml"),
    "pachyderm/okta-upstream-idps.json": seed("pachyderm/okta-upstream-idps.json"),
}

RELEASES = {
    "defaults": {},
    "everything on": EVERYTHING_ON,
    "init-container migrations": {"migrations": {"mode": "initContainer"}},
    **SEED_VALUES,
}


@pytest.mark.parametrize("values", RELEASES.values(), ids=RELEASES.keys())
def test_every_rendered_manifest_is_valid_kubernetes(values: dict[str, Any]) -> None:
    docs = render(values)
    assert {d["kind"] for d in docs} >= {"ConfigMap", "Deployment", "Service", "ServiceAccount"}
    for doc in docs:
        if doc["kind"] == "ServiceMonitor":
            continue  # a CRD: no schema bundled (test_service_monitor_scrapes_the_service)
        for version in KUBE_VERSIONS:
            # Raises ValidationError naming the field (strict: unknown fields refused too).
            kubernetes_validate.validate(doc, version, strict=True)


def test_validation_refuses_what_kubernetes_refuses() -> None:
    # The check above can fail: a misspelt field the API server would drop or refuse.
    deployment = one(render({}), "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("values", SEED_VALUES.values(), ids=SEED_VALUES.keys())
def test_seed_values_load_under_the_chart_schema(values: dict[str, Any]) -> None:
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(values)


def test_a_whole_platform_values_block_loads_under_the_chart_schema() -> None:
    # Astronomer's platform values: `global:` and other components' blocks beside Houston's
    # (an umbrella chart hands each subchart only its own block, so `nginx:` never reaches us).
    values = seed("astronomer/composed-values.yaml")
    values.pop("nginx")
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(values)


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"replicaCont": 2}, "replicaCont"),
        ({"secret": [{"envName": "X", "secretName": "okta-secret"}]}, "secretKey"),
        ({"migrations": {"mode": "hook"}}, "/migrations/mode"),
        ({"oidc": {"upstreamIDPsSecretname": "idps"}}, "upstreamIDPsSecretname"),
    ],
)
def test_schema_refuses_bad_values_naming_the_key(values: dict[str, Any], where: str) -> None:
    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmError, match=where):
        chart.validate_schema(values)


def test_many_replicas_without_a_shared_database_fail_the_render() -> None:
    # Each replica would keep its own SQLite file: its own users, keys and sessions.
    with pytest.raises(helm.HelmError, match="shared PostgreSQL"):
        render({"replicaCount": 2})
    with pytest.raises(helm.HelmError, match="shared PostgreSQL"):
        render({"autoscaling": {"enabled": True}})
    assert render({"replicaCount": 2, "config": {"database": {"url": "postgresql://db/ab"}}})


def test_pods_are_locked_down() -> None:
    # Pod Security Standards "restricted": non-root, no privilege escalation, all
    # capabilities dropped, RuntimeDefault seccomp; plus a read-only root filesystem.
    for where, pod, container in containers(
        render(EVERYTHING_ON | {"migrations": {"mode": "initContainer"}})
    ):
        context = container["securityContext"]
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert context["readOnlyRootFilesystem"] is True, where
        assert context["allowPrivilegeEscalation"] is False, where
        assert context["capabilities"]["drop"] == ["ALL"], where
        assert context["runAsUser"] == 10001, where  # the image's fixed UID
        assert pod["automountServiceAccountToken"] is False, where
        assert "limits" in container["resources"] and "requests" in container["resources"]
        writable = {
            m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly", False)
        }
        assert writable == {"/tmp", "/data"}, where


def test_probes_use_the_health_routes() -> None:
    deployment = one(render({}), "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["serve", "--host", "0.0.0.0", "--port", "8080"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    # Endpoints are removed while the pod still serves: in-flight and late requests finish.
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > 5


def test_migrations_run_as_a_hook_job_before_install_and_upgrade() -> None:
    docs = render({})
    job = one(docs, "Job", "ab-authbridge-migrate")
    hooks = job["metadata"]["annotations"]
    assert set(hooks["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["db", "upgrade"]
    # A pre-install hook runs before the release's ConfigMap exists: it has its own, made first.
    config = one(docs, "ConfigMap", "ab-authbridge-migrate")
    assert int(config["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        hooks["helm.sh/hook-weight"]
    )
    assert config["data"] == one(docs, "ConfigMap")["data"]
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == "ab-authbridge-migrate"

    # The Job's pod is no server: the Service, the budget and the HPA's pods never select it.
    selector = one(docs, "Service")["spec"]["selector"]
    pod_labels = job["spec"]["template"]["metadata"]["labels"]
    assert not selector.items() <= pod_labels.items()

    init = render({"migrations": {"mode": "initContainer"}})
    assert not [d for d in init if d["kind"] == "Job"]
    pod = one(init, "Deployment")["spec"]["template"]["spec"]
    assert [c["args"] for c in pod["initContainers"]] == [["db", "upgrade"]]


def test_optional_objects_are_off_by_default_and_complete_when_on() -> None:
    assert {d["kind"] for d in render({})} == {
        "ConfigMap",
        "Deployment",
        "Job",
        "Service",
        "ServiceAccount",
    }
    docs = render(EVERYTHING_ON)
    kinds = {d["kind"] for d in docs}
    assert kinds >= {
        "Ingress",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "ServiceMonitor",
    }
    deployment = one(docs, "Deployment")
    assert "replicas" not in deployment["spec"]  # the HPA owns the count
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert one(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == selector
    assert one(docs, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"] == selector
    assert one(docs, "Service")["spec"]["selector"] == selector
    ingress = one(docs, "Ingress")["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert ingress["service"] == {"name": "ab-authbridge", "port": {"name": "http"}}


def test_service_monitor_scrapes_the_service() -> None:
    # The Prometheus Operator's ServiceMonitor (monitoring.coreos.com/v1): selects the
    # Service by its labels and scrapes the named port's /metrics.
    docs = render(EVERYTHING_ON)
    monitor = one(docs, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    service = one(docs, "Service")
    labels = service["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}


def test_a_single_replica_gets_no_disruption_budget() -> None:
    # minAvailable 1 of 1 would block every node drain.
    assert "PodDisruptionBudget" not in {d["kind"] for d in render({})}


# --- What a pod sees: the rendered file, env and Secret volumes, through the loader ---


def pod_view(
    docs: list[dict[str, Any]], secrets: dict[str, dict[str, str]], root: Path
) -> dict[str, str]:
    """Lay out what the Deployment's container would see under `root`, and its env.

    The ConfigMap's key becomes the file at its mount path, each Secret volume a directory
    with one file per key (as the kubelet mounts them); a Secret the pod mounts but the test
    did not provide fails, as the pod would not start. Paths in the env are rebased on root.
    """
    deployment = one(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount in container["volumeMounts"]:
        volume = volumes[mount["name"]]
        target = root / mount["mountPath"].lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        if "configMap" in volume:
            data = one(docs, "ConfigMap", volume["configMap"]["name"])["data"]
        elif "secret" in volume:
            data = secrets[volume["secret"]["secretName"]]
        else:
            continue
        for key, value in data.items():
            (target / key).write_text(value)
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    return {
        name: str(root / value.lstrip("/")) if value.startswith("/") else value
        for name, value in env.items()
    }


def test_the_chart_mounts_every_secret_where_the_loader_reads_it(tmp_path: Path) -> None:
    # One release with every seed's kind of secret: Houston's secret list (chart `secret`
    # and `astronomer.houston.secret`), Pachyderm's upstreamIDPsSecretName, OpenMetadata's
    # secretRef, the bootstrap admin's password, and the database URL.
    values = {
        "replicaCount": 2,
        "config": {"server": {"issuer": "https://auth.example.com"}},
        "secret": [
            DATABASE,
            *seed("astronomer/scim-okta-secret.yaml")["astronomer"]["houston"]["secret"],
        ],
        "astronomer": seed("astronomer/composed-values.yaml")["astronomer"],
        "env": [{"name": "AUTH__OPENID_CONNECT__FLOW", "value": "code"}],
        "oidc": {"upstreamIDPsSecretName": "pachyderm-idps"},
        "openmetadata": seed("openmetadata/okta-confidential.yaml")["openmetadata"],
        "bootstrapAdmin": {"email": "admin@example.com", "existingSecret": "authbridge-admin"},
    }
    # OpenMetadata's block names provider okta too: one provider block per name, so the
    # Houston okta variables are left to it here.
    values["astronomer"]["houston"]["env"] = [
        {"name": "GLOBAL_AGENT_HTTPS_PROXY", "value": "http://my-proxy:3129"}
    ]
    values["astronomer"]["houston"]["secret"] = []
    idps = [
        {
            "type": "github",
            "id": "github",
            "name": "GitHub",
            "config": {
                "clientID": "gh-client",
                "clientSecret": "gh-secret",
                "orgs": [{"name": "acme"}],
            },
        }
    ]
    secrets = {
        "authbridge-db": {"url": f"sqlite:///{tmp_path}/shared.db\n"},
        "okta-provisioning-secret": {"okta_provisioning_account_secret": "scim:s3cret\n"},
        "pachyderm-idps": {"upstream-idps": yaml.safe_dump(idps)},
        "oidc-secrets": {
            "openmetadata-oidc-client-id": "0oa1om\n",
            "openmetadata-oidc-client-secret": "om-client-secret\n",
        },
        "authbridge-admin": {"password": "correct horse battery staple 42\n"},
    }
    docs = render(values)
    environ = pod_view(docs, secrets, tmp_path / "pod")
    assert environ["AUTHBRIDGE_SECRETS_DIR"] == str(tmp_path / "pod" / SECRETS_DIR.lstrip("/"))

    settings, report = load_with_report(None, environ)

    assert settings.database.url == f"sqlite:///{tmp_path}/shared.db"
    assert settings.server.issuer == "https://auth.example.com"
    assert settings.auth.openid_connect.flow == "code"
    okta = settings.auth.openid_connect.providers["okta"]
    assert okta.client_secret == "om-client-secret"  # OpenMetadata's secretRef
    assert settings.auth.github.client_secret == "gh-secret"  # Pachyderm's Secret
    outside = settings.environ({})
    assert outside["SCIM_AUTH_CODE_OKTA"] == "scim:s3cret"  # Houston's secret list
    assert outside["GLOBAL_AGENT_HTTPS_PROXY"] == "http://my-proxy:3129"
    assert any("astronomer.houston.secret" in line for line in report.translated)
    admin = BootstrapAdmin.from_environ(environ)
    assert admin is not None and admin.email == "admin@example.com"
    assert admin.password == "correct horse battery staple 42"


def test_a_secret_the_loader_reads_but_the_chart_forgot_would_fail(tmp_path: Path) -> None:
    # The layout test above can fail: a Secret named in the config but not mounted is
    # refused by the loader with the mount it expected.
    docs = render({"secret": [DATABASE]})
    environ = pod_view(docs, {"authbridge-db": {"url": "sqlite:///x.db"}}, tmp_path)
    config = Path(environ["AUTHBRIDGE_CONFIG"])
    config.write_text(
        config.read_text()
        + "\n".join(
            [
                "oidc:",
                "  upstreamIDPsSecretName: not-mounted",
                "",
            ]
        )
    )
    from authbridge.config import ConfigError

    with pytest.raises(ConfigError, match="not-mounted"):
        load_with_report(None, environ)


@pytest.mark.parametrize("values", [{}, EVERYTHING_ON], ids=["defaults", "everything on"])
def test_helm_lint_strict_finds_no_warning(values: dict[str, Any]) -> None:
    report = helm.lint(CHART, values, strict=True, kube_version="v1.25.0")
    assert report["errors"] == []
    # Severity 2 is a warning, 3 an error (only "icon is recommended", 1, is left).
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_env_values_become_the_strings_kubernetes_takes() -> None:
    # Houston's env lists hold YAML scalars (`value: true`, `value: 3`); a container's env
    # takes strings only, and the loader reads "true" as the boolean again.
    values = {
        "env": [
            {"name": "AUTH__LOCAL__ENABLED", "value": False},
            {"name": "AUTH__OPENID_CONNECT__CLOCK_TOLERANCE", "value": 30},
            {"name": "EMPTY", "value": None},
            {"name": "FROM_FIELD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ]
    }
    deployment = one(render(values), "Deployment")
    kubernetes_validate.validate(deployment, KUBE_VERSIONS[-1], strict=True)
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    given = {e["name"]: e.get("value", e.get("valueFrom")) for e in env}
    assert given["AUTH__LOCAL__ENABLED"] == "false"
    assert given["AUTH__OPENID_CONNECT__CLOCK_TOLERANCE"] == "30"
    assert given["EMPTY"] == ""
    assert given["FROM_FIELD"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def secrets_named_by(config: dict[str, Any]) -> dict[str, dict[str, str]]:
    """A value for every Secret key a rendered configuration file reads (as an operator
    would have created them before installing)."""
    secrets: dict[str, dict[str, str]] = {}
    houston = (config.get("astronomer") or {}).get("houston") or {}
    for entry in houston.get("secret") or []:
        name, key = entry["secretName"], entry["secretKey"]
        secrets.setdefault(name, {})[key] = f"{name}/{key}"
    oidc = config.get("oidc") or {}
    if oidc.get("upstreamIDPsSecretName"):
        secrets[oidc["upstreamIDPsSecretName"]] = {"upstream-idps": "[]"}
    om = ((config.get("openmetadata") or {}).get("config") or {}).get("authentication") or {}
    for value in (om.get("oidcConfiguration") or {}).values():
        if isinstance(value, dict) and "secretRef" in value:
            name, key = value["secretRef"], value["secretKey"]
            secrets.setdefault(name, {})[key] = f"{name}/{key}"
    return secrets


@pytest.mark.parametrize("values", SEED_VALUES.values(), ids=SEED_VALUES.keys())
def test_each_seed_installed_by_the_chart_gives_pods_a_configuration_that_loads(
    values: dict[str, Any], tmp_path: Path
) -> None:
    docs = render(values)
    config = yaml.safe_load(one(docs, "ConfigMap")["data"]["authbridge.yaml"])
    secrets = secrets_named_by(config)
    environ = pod_view(docs, secrets, tmp_path)
    settings, report = load_with_report(None, environ)
    # What the seed configures is what the pod runs with: values as written, or the very
    # value of the Secret key the seed names, read from where the chart mounted it.
    given = yaml.safe_dump(values) + " ".join(v for keys in secrets.values() for v in keys.values())
    for provider in settings.auth.openid_connect.providers.values():
        assert provider.client_id is None or provider.client_id in given
        assert provider.client_secret is None or provider.client_secret in given
    if "astronomer" in values or "openmetadata" in values:
        assert report.translated
