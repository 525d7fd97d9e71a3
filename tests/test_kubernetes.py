"""
The Kubernetes manifests of the four plugins, built by `kubectl kustomize` as `tutor k8s` applies
them, each plugin alone and all together, with default and with scaled-out settings: schema,
resources, probes, replicas, volumes, labels and selectors; bad settings refused.
"""

from __future__ import annotations

import json
import re
import typing as t
from pathlib import Path

import kubernetes_validate
import pytest

from tests.harness.tutor import TutorRoot

ALL_PLUGINS = ["clickhouse", "ralph", "superset", "aspects"]
ROOTS = {
    "clickhouse": (["clickhouse"], {}),
    "ralph": (["ralph"], {}),
    "superset": (["superset"], {}),
    "aspects": (["clickhouse", "ralph", "aspects"], {}),
    "all": (ALL_PLUGINS, {}),
    "all-scaled": (
        ALL_PLUGINS,
        {
            "RALPH_REPLICAS": 3,
            "SUPERSET_REPLICAS": 2,
            "SUPERSET_WORKER_REPLICAS": 4,
            "CLICKHOUSE_K8S_VOLUME_SIZE": "200Gi",
            "CLICKHOUSE_K8S_RESOURCES": {
                "requests": {"cpu": 2, "memory": "8Gi"},
                "limits": {"cpu": "4", "memory": "16Gi"},
            },
            "RALPH_K8S_RESOURCES": {
                "requests": {"cpu": "1", "memory": "512Mi"},
                "limits": {"memory": "1536Mi"},
            },
            "SUPERSET_K8S_RESOURCES": {
                "requests": {"cpu": "1500m", "memory": "2Gi"},
                "limits": {"memory": "3Gi", "ephemeral-storage": "2Gi"},
            },
            "SUPERSET_WORKER_K8S_RESOURCES": {
                "requests": {"cpu": "0.5", "memory": "1500M"},
                "limits": {"memory": "2G"},
            },
            "ASPECTS_K8S_RESOURCES": {
                "requests": {"cpu": "100m", "memory": "1Gi"},
                "limits": {"memory": "1Gi"},
            },
        },
    ),
}
# What each root runs: Deployments, then Jobs and CronJobs.
DEPLOYMENTS = {
    "clickhouse": {"clickhouse"},
    "ralph": {"ralph"},
    "superset": {"superset", "superset-worker", "superset-worker-beat"},
}
JOBS = {
    "clickhouse": {"clickhouse-job"},
    "ralph": {"ralph-job"},
    "superset": {"superset-job"},
    "aspects": {"aspects-job", "aspects-dbt"},
}
# The setting that sizes each workload's container (the others are small and fixed).
RESOURCES_SETTING = {
    "clickhouse": "CLICKHOUSE_K8S_RESOURCES",
    "ralph": "RALPH_K8S_RESOURCES",
    "superset": "SUPERSET_K8S_RESOURCES",
    "superset-worker": "SUPERSET_WORKER_K8S_RESOURCES",
    "aspects-job": "ASPECTS_K8S_RESOURCES",
    "aspects-dbt": "ASPECTS_K8S_RESOURCES",
}
REPLICAS_SETTING = {
    "ralph": "RALPH_REPLICAS",
    "superset": "SUPERSET_REPLICAS",
    "superset-worker": "SUPERSET_WORKER_REPLICAS",
}
# The health paths of each server: ClickHouse's /ping, Ralph 5's heartbeats (/__heartbeat__
# also asks its backend, /__lbheartbeat__ only the server), Superset's /health.
PROBE_PATHS = {
    "clickhouse": {"startupProbe": "/ping", "readinessProbe": "/ping", "livenessProbe": "/ping"},
    "ralph": {
        "startupProbe": "/__lbheartbeat__",
        "readinessProbe": "/__heartbeat__",
        "livenessProbe": "/__lbheartbeat__",
    },
    "superset": {
        "startupProbe": "/health",
        "readinessProbe": "/health",
        "livenessProbe": "/health",
    },
}
OURS = re.compile(r"^(clickhouse|ralph|superset|aspects)\b")
UNITS = {"m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
UNITS.update({"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40})
Manifests = dict[tuple[str, str], dict[str, t.Any]]


def amount(quantity: t.Any) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]*)", str(quantity))
    assert match and match[2] in UNITS, f"{quantity!r} is not a Kubernetes quantity"
    return float(match[1]) * UNITS[match[2]]


class Built(t.NamedTuple):
    root: TutorRoot
    config: dict[str, t.Any]
    manifests: Manifests


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    roots = {}
    for name, (plugins, settings) in ROOTS.items():
        root = TutorRoot(tmp_path_factory.mktemp(f"tutor-{name}"))
        # Plugins and settings in config.yml: one Tutor run instead of one per step.
        config = json.dumps({"PLUGINS": plugins, **settings})
        (root.path / "config.yml").write_text(config, encoding="utf-8")
        root.save()
        roots[name] = Built(root, root.loaded_config(), root.manifests())
    return roots


def workloads(manifests: Manifests) -> t.Iterator[tuple[str, str, dict[str, t.Any]]]:
    """(kind, name, pod spec) of our Deployments, Jobs and CronJobs."""
    for (kind, name), doc in manifests.items():
        if kind in ("Deployment", "Job") and OURS.match(name):
            yield kind, name, doc["spec"]["template"]["spec"]
        elif kind == "CronJob" and OURS.match(name):
            yield kind, name, doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def expected(root_name: str, table: dict[str, set[str]]) -> set[str]:
    plugins = ROOTS[root_name][0]
    return set().union(*(names for plugin, names in table.items() if plugin in plugins))


@pytest.mark.parametrize("name", ROOTS)
def test_each_plugin_alone_and_all_together_build_valid_manifests(
    built: dict[str, Built], name: str
) -> None:
    manifests = built[name].manifests
    for doc in manifests.values():
        # The schema of Kubernetes 1.37 itself, strict: no unknown or misplaced field.
        kubernetes_validate.validate(doc, "1.37", strict=True)
    deployments = {n for (kind, n) in manifests if kind == "Deployment" and OURS.match(n)}
    jobs = {n for kind, n, _ in workloads(manifests) if kind != "Deployment"}
    assert deployments == expected(name, DEPLOYMENTS)
    assert jobs == expected(name, JOBS)


@pytest.mark.parametrize("name", ROOTS)
def test_every_container_requests_and_limits_its_resources(
    built: dict[str, Built], name: str
) -> None:
    config, manifests = built[name].config, built[name].manifests
    checked = 0
    for _kind, workload, pod in workloads(manifests):
        for container in pod["containers"]:
            resources = container["resources"]
            where = f"{workload}/{container['name']}"
            assert {"cpu", "memory"} <= set(resources["requests"]), where
            assert "memory" in resources["limits"], where
            for part in ("requests", "limits"):
                for resource, quantity in resources[part].items():
                    assert amount(quantity) > 0, where
                    # "512m" of memory is thousandths of a byte.
                    assert resource == "cpu" or not str(quantity).endswith("m"), where
            for resource, limit in resources["limits"].items():
                if resource in resources["requests"]:
                    assert amount(resources["requests"][resource]) <= amount(limit), where
            setting = RESOURCES_SETTING.get(workload)
            if setting:
                assert resources == config[setting], where
            checked += 1
    assert checked == len(expected(name, DEPLOYMENTS) | expected(name, JOBS))


def test_scaled_settings_reach_the_containers(built: dict[str, Built]) -> None:
    manifests = built["all-scaled"].manifests
    pod = manifests[("Deployment", "clickhouse")]["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"] == {"cpu": "4", "memory": "16Gi"}
    pod = manifests[("Deployment", "superset-worker-beat")]["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["requests"] == {"cpu": "50m", "memory": "384Mi"}


@pytest.mark.parametrize("name", ROOTS)
def test_every_server_is_probed_on_its_own_port(built: dict[str, Built], name: str) -> None:
    config, manifests = built[name].config, built[name].manifests
    probed = set()
    for kind, workload, pod in workloads(manifests):
        for container in pod["containers"]:
            ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            probes = {k: v for k, v in container.items() if k.endswith("Probe")}
            if not ports:
                # Celery workers and jobs listen on nothing: nothing to probe.
                assert probes == {}, f"{workload} has no port but probes"
                continue
            assert kind == "Deployment"
            assert {k: v["httpGet"]["path"] for k, v in probes.items()} == PROBE_PATHS[workload]
            for probe in probes.values():
                port = probe["httpGet"]["port"]
                assert port in ports or port in ports.values(), f"{workload}: port {port!r}"
            startup = probes["startupProbe"]
            # Time to start before liveness may restart the container.
            assert startup["periodSeconds"] * startup["failureThreshold"] >= 120
            probed.add(workload)
    assert probed == expected(name, DEPLOYMENTS) - {"superset-worker", "superset-worker-beat"}
    if "clickhouse" in probed:
        pod = manifests[("Deployment", "clickhouse")]["spec"]["template"]["spec"]
        ports = {p["name"]: p["containerPort"] for p in pod["containers"][0]["ports"]}
        assert ports["http"] == config["CLICKHOUSE_HTTP_PORT"]
        startup = pod["containers"][0]["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 600  # big volumes


@pytest.mark.parametrize("name", ROOTS)
def test_replicas_follow_the_settings_and_singletons_stay_single(
    built: dict[str, Built], name: str
) -> None:
    config, manifests = built[name].config, built[name].manifests
    for deployment in expected(name, DEPLOYMENTS):
        spec = manifests[("Deployment", deployment)]["spec"]
        if deployment in REPLICAS_SETTING:
            assert spec["replicas"] == config[REPLICAS_SETTING[deployment]]
            assert "strategy" not in spec  # rolling updates
        else:
            # One ClickHouse server on its volume; one Celery scheduler, even during an update.
            assert (spec["replicas"], spec["strategy"]) == (1, {"type": "Recreate"}), deployment
    if name == "all-scaled":
        replicas = {d: manifests[("Deployment", d)]["spec"]["replicas"] for d in REPLICAS_SETTING}
        assert replicas == {"ralph": 3, "superset": 2, "superset-worker": 4}


@pytest.mark.parametrize("name", ROOTS)
def test_volumes_are_claimed_and_every_reference_resolves(
    built: dict[str, Built], name: str
) -> None:
    config, manifests = built[name].config, built[name].manifests
    claims = {n: doc for (kind, n), doc in manifests.items() if kind == "PersistentVolumeClaim"}
    ours = {n for n in claims if OURS.match(n)}
    mounted_by: dict[str, list[str]] = {n: [] for n in ours}
    for _kind, workload, pod in workloads(manifests):
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod["containers"]:
            assert {m["name"] for m in container.get("volumeMounts", [])} <= set(volumes)
            for source in container.get("envFrom", []):
                assert ("Secret", source["secretRef"]["name"]) in manifests
        for volume in volumes.values():
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                assert claim in claims, f"{workload} claims {claim!r}, which does not exist"
                mounted_by[claim].append(workload)
            elif "configMap" in volume:
                assert ("ConfigMap", volume["configMap"]["name"]) in manifests
            elif "secret" in volume:
                assert ("Secret", volume["secret"]["secretName"]) in manifests
    # Only ClickHouse keeps state (dbt's state lives in ClickHouse, Superset's in MySQL).
    assert ours == ({"clickhouse"} if "clickhouse" in ROOTS[name][0] else set())
    for claim in ours:
        spec = claims[claim]["spec"]
        assert spec["accessModes"] == ["ReadWriteOnce"]
        assert spec["resources"]["requests"]["storage"] == config["CLICKHOUSE_K8S_VOLUME_SIZE"]
        assert mounted_by[claim] == ["clickhouse"]  # one Deployment, one pod (above)
    if ours:
        container = manifests[("Deployment", "clickhouse")]["spec"]["template"]["spec"]
        mounts = {m["mountPath"]: m["name"] for m in container["containers"][0]["volumeMounts"]}
        assert mounts["/var/lib/clickhouse"] == "data"


@pytest.mark.parametrize("name", ROOTS)
def test_labels_and_selectors_agree(built: dict[str, Built], name: str) -> None:
    manifests = built[name].manifests
    pods = {}
    for (kind, deployment), doc in manifests.items():
        if kind != "Deployment" or not OURS.match(deployment):
            continue
        labels = doc["spec"]["template"]["metadata"]["labels"]
        selector = doc["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items()
        assert (
            labels["app.kubernetes.io/name"]
            == doc["metadata"]["labels"]["app.kubernetes.io/name"]
            == deployment
        )
        assert labels["app.kubernetes.io/managed-by"] == "tutor"  # `tutor k8s` finds them
        pods[deployment] = (labels, doc["spec"]["template"]["spec"]["containers"])
    services = 0
    for (kind, service), doc in manifests.items():
        if kind != "Service" or not OURS.match(service):
            continue
        selector = doc["spec"]["selector"]
        selected = [d for d, (labels, _) in pods.items() if selector.items() <= labels.items()]
        assert selected == [service], f"Service {service} selects {selected}"
        ports = {p["name"]: p["containerPort"] for c in pods[service][1] for p in c["ports"]}
        for port in doc["spec"]["ports"]:
            assert ports[port["targetPort"]] == port["port"]
        services += 1
    assert services == len(pods.keys() - {"superset-worker", "superset-worker-beat"})
    for kind, job, pod in workloads(manifests):
        if kind != "Deployment":
            assert pod["restartPolicy"] == "Never", job
        if kind == "Job":
            assert manifests[(kind, job)]["metadata"]["labels"]["app.kubernetes.io/component"] == (
                "job"
            )


OVERRIDE_PLUGIN = """\
name: bigjobs
version: 0.1.0
patches:
  k8s-override: |
    apiVersion: batch/v1
    kind: Job
    metadata:
      name: superset-job
    spec:
      template:
        spec:
          containers:
            - name: superset
              resources:
                limits:
                  memory: 6Gi
"""


def test_fixed_sizes_can_be_overridden_the_tutor_way(tmp_path_factory) -> None:
    # The small containers have fixed sizes; Tutor's k8s-override patch changes them.
    plugins = tmp_path_factory.mktemp("plugins")
    (plugins / "bigjobs.yml").write_text(OVERRIDE_PLUGIN, encoding="utf-8")
    root = TutorRoot(Path(tmp_path_factory.mktemp("tutor-root")), plugins_root=plugins)
    root.save(["superset", "bigjobs"])
    job = root.manifests()[("Job", "superset-job")]["spec"]["template"]["spec"]
    assert job["containers"][0]["resources"] == {
        "requests": {"cpu": "250m", "memory": "1Gi"},
        "limits": {"memory": "6Gi"},
    }


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "CLICKHOUSE_K8S_RESOURCES",
            {"requests": {"cpu": "1", "memory": "512m"}, "limits": {"memory": "4Gi"}},
            "CLICKHOUSE_K8S_RESOURCES: requests.memory must be a number of bytes",
        ),
        (
            "CLICKHOUSE_K8S_RESOURCES",
            {"requests": {"cpu": "1", "memory": "8Gi"}, "limits": {"memory": "4Gi"}},
            "CLICKHOUSE_K8S_RESOURCES: requests.memory 8Gi is above limits.memory 4Gi",
        ),
        ("CLICKHOUSE_K8S_VOLUME_SIZE", "10GB", "CLICKHOUSE_K8S_VOLUME_SIZE must be a Kubernetes"),
        (
            "RALPH_K8S_RESOURCES",
            {"requests": {"cpu": "250m", "memory": "256Mi"}},
            "RALPH_K8S_RESOURCES must be a mapping of requests and limits",
        ),
        ("RALPH_REPLICAS", 0, "RALPH_REPLICAS must be a whole number of at least 1"),
        ("SUPERSET_REPLICAS", "two", "SUPERSET_REPLICAS must be a whole number of at least 1"),
        (
            "SUPERSET_WORKER_REPLICAS",
            0,
            "SUPERSET_WORKER_REPLICAS must be a whole number of at least 1",
        ),
        (
            "SUPERSET_K8S_RESOURCES",
            {"requests": {"cpu": "fast", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
            "SUPERSET_K8S_RESOURCES: requests.cpu must be a number of cores",
        ),
        (
            "SUPERSET_WORKER_K8S_RESOURCES",
            {"requests": {"memory": "1Gi"}, "limits": {}},
            "SUPERSET_WORKER_K8S_RESOURCES must set requests.cpu",
        ),
        (
            "ASPECTS_K8S_RESOURCES",
            {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi", "gpu": 1}},
            "ASPECTS_K8S_RESOURCES: limits.gpu is not one of cpu, memory",
        ),
    ],
)
def test_bad_values_stop_config_save_naming_the_key(
    built: dict[str, Built], key: str, value: t.Any, message: str
) -> None:
    error = built["all"].root.save_invalid(key, value)
    assert message in error


def test_operations_guide_states_the_rendered_sizes(built: dict[str, Built]) -> None:
    guide = (Path(__file__).parent.parent / "docs" / "operations.md").read_text(encoding="utf-8")
    section = guide.split("### Kubernetes", 1)[1].split("\n### ", 1)[0]
    sizes = {}
    for _kind, workload, pod in workloads(built["all"].manifests):
        resources = pod["containers"][0]["resources"]
        sizes[workload] = "{}, {} / {}".format(
            resources["requests"]["cpu"],
            resources["requests"]["memory"],
            resources["limits"]["memory"],
        )
    stated = {}
    for row in re.findall(r"(?m)^\| (.+?) \| .+? \| (.+?) \|", section):
        for workload in re.findall(r"`([a-z-]+)`", row[0]):
            stated[workload] = re.search(r"\d\S*, \d\S* / \d\S*", row[1])[0]
    assert stated == sizes
