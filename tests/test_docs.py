"""The scale-out manifests under ``deploy/`` and their doc: parsed, and checked against what they run.

No cluster runs here (see ``docs/scale-out.md``, "What was tested"). What is
checked is what would silently break a run on one: a YAML document that does
not parse, a ``LocustTest`` field the operator's v2 API does not have (the API
server prunes unknown fields without a word), command lines that do not run
surgegate's locustfile headless with a results folder on the master's volume,
a profile missing from its ConfigMap or invalid, a target the loopback policy
would refuse, and an image that leaves out one of the project's packages.
"""

from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest
import yaml

from locustfiles.targets import check_target, normalise_hosts
from profiles import load_profile

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
DOC = REPO / "docs" / "scale-out.md"
LOCUSTFILE = "locustfiles/flash_sale.py"

# The LocustTest v2 API of AbdelrhmanHamouda/locust-k8s-operator v2.3.0 (api/v2/locusttest_types.go,
# docs/api_reference.md): the keys each object may hold. Objects taken whole from Kubernetes
# (resources, volumes, scheduling) are not listed below them.
LOCUSTTEST_V2_KEYS = {
    "spec": {"image", "imagePullPolicy", "imagePullSecrets", "master", "worker", "testFiles", "scheduling", "env",
             "volumes", "volumeMounts", "observability"},
    "spec.master": {"command", "resources", "labels", "annotations", "autostart", "autoquit", "extraArgs"},
    "spec.master.autoquit": {"enabled", "timeout"},
    "spec.worker": {"command", "replicas", "resources", "labels", "annotations", "extraArgs"},
    "spec.testFiles": {"configMapRef", "libConfigMapRef", "srcMountPath", "libMountPath"},
    "spec.env": {"configMapRefs", "secretRefs", "variables", "secretMounts"},
    "spec.volumeMounts[]": {"name", "mountPath", "subPath", "subPathExpr", "readOnly", "recursiveReadOnly",
                            "mountPropagation", "target"},
}
DEFAULT_SRC_MOUNT_PATH = "/lotest/src"
DEFAULT_LIB_MOUNT_PATH = "/opt/locust/lib"
MASTER_PORT = 5557

SURGEGATE_OPTIONS = ("--profile", "--time-scale", "--peak-multiplier", "--max-in-flight", "--adapter", "--allow-target",
                     "--results-dir", "--run-id", "--raw-samples")


def load_documents() -> list[tuple[Path, dict]]:
    """Every YAML document under ``deploy/``, with its file."""
    documents = []
    for path in sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")]):
        for document in yaml.safe_load_all(path.read_text()):
            if document is not None:
                documents.append((path, document))
    return documents


def the_one(kind: str) -> dict:
    """The single document of ``kind`` under ``deploy/``."""
    found = [document for _, document in load_documents() if document.get("kind") == kind]
    assert len(found) == 1, f"expected one {kind} under deploy/, found {len(found)}"
    return found[0]


def operator_argv(test: dict, role: str) -> list[str]:
    """The container args the operator builds for ``role`` (internal/resources/command.go at v2.3.0)."""
    spec, name = test["spec"], test["metadata"]["name"]
    part = spec[role]
    argv = part["command"].split()  # strings.Fields
    if role == "master":
        argv += ["--master", f"--master-port={MASTER_PORT}", f"--expect-workers={spec['worker']['replicas']}"]
        if part.get("autostart", True):
            argv.append("--autostart")
        autoquit = part.get("autoquit") or {"enabled": True}
        if autoquit.get("enabled", True):
            argv += ["--autoquit", str(autoquit.get("timeout", 60))]
        argv += ["--enable-rebalancing", "--only-summary"]
    else:
        argv += ["--worker", f"--master-port={MASTER_PORT}", f"--master-host={name}-master"]
    return argv + list(part.get("extraArgs") or [])


def parse_argv(argv: list[str]) -> argparse.Namespace:
    """The options of a locust command line this test looks at (others are ignored)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("-f", "--locustfile")
    parser.add_argument("--headless", action="store_true")
    parser.add_argument("--host", "-H")
    for option in SURGEGATE_OPTIONS:
        parser.add_argument(option, action="append")
    return parser.parse_known_args(argv)[0]


def under(path: str, directory: str) -> bool:
    """Whether ``path`` is ``directory`` or inside it."""
    return PurePosixPath(path) == PurePosixPath(directory) or PurePosixPath(directory) in PurePosixPath(path).parents


def unknown_keys(where: str, value, found: list[str]) -> None:
    """Collect the keys of ``value`` that ``LOCUSTTEST_V2_KEYS[where]`` does not allow, recursively."""
    if isinstance(value, list):
        for item in value:
            unknown_keys(where + "[]", item, found)
        return
    allowed = LOCUSTTEST_V2_KEYS.get(where)
    if allowed is None or not isinstance(value, dict):
        return
    for key, inner in value.items():
        if key not in allowed:
            found.append(f"{where}.{key}")
        unknown_keys(f"{where}.{key}", inner, found)


def test_every_deploy_document_parses_as_a_kubernetes_object():
    """Every YAML document under deploy/ parses and names its apiVersion, kind and metadata.name."""
    documents = load_documents()
    assert {document["kind"] for _, document in documents} >= {"LocustTest", "ConfigMap", "PersistentVolumeClaim",
                                                               "Pod"}
    for path, document in documents:
        assert document.get("apiVersion") and document.get("kind"), path
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", document["metadata"]["name"]), (path, document)


def test_locusttest_uses_only_fields_of_the_operators_v2_api():
    """The LocustTest is locust.io/v2 and holds no key the operator's v2 API lacks (a typo would be pruned)."""
    test = the_one("LocustTest")
    assert test["apiVersion"] == "locust.io/v2"
    found: list[str] = []
    unknown_keys("spec", test["spec"], found)
    assert found == []
    spec = test["spec"]
    assert spec["image"] and spec["master"]["command"] and spec["worker"]["command"]
    assert 1 <= spec["worker"]["replicas"] <= 500
    assert len(test["metadata"]["name"]) <= 63 - len("-worker")  # the operator's webhook rule


def test_locusttest_volumes_follow_the_operators_rules():
    """Each mount names a defined volume, targets master/worker/both, and avoids the operator's reserved paths and names."""
    test = the_one("LocustTest")
    spec, name = test["spec"], test["metadata"]["name"]
    volumes = {volume["name"] for volume in spec.get("volumes", [])}
    test_files = spec.get("testFiles") or {}
    reserved = [test_files.get("srcMountPath", DEFAULT_SRC_MOUNT_PATH), test_files.get("libMountPath",
                                                                                       DEFAULT_LIB_MOUNT_PATH)]
    for volume in volumes:
        assert not volume.startswith("secret-") and volume not in ("locust-lib", f"{name}-master", f"{name}-worker")
    for mount in spec.get("volumeMounts", []):
        assert mount["name"] in volumes
        assert mount.get("target", "both") in ("master", "worker", "both")
        for path in reserved:
            assert not (under(mount["mountPath"], path) or under(path, mount["mountPath"])), (mount, path)


def test_master_runs_the_locustfile_headless_and_writes_results_to_its_own_volume():
    """The master's args run locustfiles/flash_sale.py headless, with --results-dir on a claim mounted on the master."""
    test = the_one("LocustTest")
    master = parse_argv(operator_argv(test, "master"))
    assert master.locustfile and master.locustfile.endswith(LOCUSTFILE)
    assert master.headless, "without --headless the master records nothing (see docs/scale-out.md)"
    assert master.results_dir and len(master.results_dir) == 1
    results_dir = master.results_dir[0]
    mounts = [m for m in test["spec"]["volumeMounts"] if under(results_dir, m["mountPath"])]
    assert [m.get("target", "both") for m in mounts] in (["master"], ["both"]), mounts
    volume = next(v for v in test["spec"]["volumes"] if v["name"] == mounts[0]["name"])
    claim = volume["persistentVolumeClaim"]["claimName"]
    assert claim in [d["metadata"]["name"] for _, d in load_documents() if d["kind"] == "PersistentVolumeClaim"]
    reader = the_one("Pod")
    assert claim in [v.get("persistentVolumeClaim", {}).get("claimName") for v in reader["spec"]["volumes"]]


def test_workers_run_the_same_locustfile_and_take_surgegate_options_from_the_master():
    """The workers' args run the master's locustfile and give none of surgegate's options (the master sends them)."""
    test = the_one("LocustTest")
    master_argv, worker_argv = operator_argv(test, "master"), operator_argv(test, "worker")
    assert parse_argv(worker_argv).locustfile == parse_argv(master_argv).locustfile
    assert f"--master-host={test['metadata']['name']}-master" in worker_argv
    assert [arg for arg in worker_argv if arg.split("=")[0] in SURGEGATE_OPTIONS] == []


def test_master_profile_is_a_valid_profile_in_the_mounted_configmap(tmp_path):
    """--profile names a file of the ConfigMap mounted by testFiles, and that file is a valid profile."""
    test = the_one("LocustTest")
    master = parse_argv(operator_argv(test, "master"))
    profile = PurePosixPath(master.profile[-1])
    test_files = test["spec"]["testFiles"]
    assert profile.parent == PurePosixPath(test_files.get("srcMountPath", DEFAULT_SRC_MOUNT_PATH))
    maps = {d["metadata"]["name"]: d for _, d in load_documents() if d["kind"] == "ConfigMap"}
    data = maps[test_files["configMapRef"]]["data"]
    assert profile.name in data
    (tmp_path / profile.name).write_text(data[profile.name])
    assert load_profile(tmp_path / profile.name).stages


def test_master_target_is_allowed_by_its_allow_target():
    """The master's --host passes surgegate's target check with the --allow-target values it is given."""
    master = parse_argv(operator_argv(the_one("LocustTest"), "master"))
    allowed = normalise_hosts(master.allow_target or [])
    assert check_target(master.host, allowed) == master.host.rstrip("/")
    assert urlsplit(master.host).hostname in allowed  # a cluster target is never loopback: it must be named


def test_image_holds_every_package_and_runs_locust():
    """The Dockerfile copies every package pyproject.toml installs, under the WORKDIR the manifest's -f names."""
    dockerfile = (KUBERNETES / "Dockerfile").read_text()
    assert re.search(r'^ENTRYPOINT \["locust"\]$', dockerfile, re.M)
    workdir = re.search(r"^WORKDIR (\S+)$", dockerfile, re.M).group(1)
    copied = set(re.findall(r"^COPY (\w+)/ ", dockerfile, re.M))
    include = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {pattern.rstrip("*") for pattern in include} <= copied
    assert all((REPO / name / "__init__.py").exists() for name in copied)
    master = parse_argv(operator_argv(the_one("LocustTest"), "master"))
    assert master.locustfile == f"{workdir}/{LOCUSTFILE}"


@pytest.mark.parametrize("path", sorted(set(re.findall(r"deploy/[\w./-]+\w", DOC.read_text()))))
def test_scale_out_doc_names_files_that_exist(path):
    """Every deploy/ file docs/scale-out.md names exists."""
    assert (REPO / path).exists()
