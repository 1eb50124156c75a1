#!/usr/bin/env python3
"""Renders deploy/k8s/ for `podman kube play` on a single host.

podman 4.3 plays Pods, Deployments, PersistentVolumeClaims and Secrets, not
StatefulSets or Services, and it has no kustomize. This prints what the
cluster would run, as such objects:

  - the Secret the kustomization generates, from the files in SECRETS_DIR;
  - the PersistentVolumeClaim the StatefulSet's claim template makes for its
    first pod (data-rbfs-server-0);
  - that pod, rbfs-server-0: the StatefulSet's pod template unchanged, but
    for the image, a hostPort standing in for the Service (other ports are
    not published) and an explicit `optional: false` on secret volumes
    (podman 4.3 needs it).

usage: kube-play.py K8S_DIR SECRETS_DIR IMAGE HOST_IP HOST_PORT > play.yaml
"""

import base64
import os
import sys

import yaml


def main(k8s_dir, secrets_dir, image, host_ip, host_port):
    with open(os.path.join(k8s_dir, "kustomization.yaml")) as f:
        kustomization = yaml.safe_load(f)
    with open(os.path.join(k8s_dir, "statefulset.yaml")) as f:
        statefulset = yaml.safe_load(f)
    with open(os.path.join(k8s_dir, "service.yaml")) as f:
        service = yaml.safe_load(f)

    objects = []
    for generator in kustomization["secretGenerator"]:
        data = {}
        for path in generator["files"]:
            with open(os.path.join(secrets_dir, os.path.basename(path)), "rb") as f:
                data[os.path.basename(path)] = base64.b64encode(f.read()).decode()
        objects.append({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": generator["name"]},
            "type": "Opaque",
            "data": data,
        })

    name = statefulset["metadata"]["name"]
    pod_name = name + "-0"
    template = statefulset["spec"]["template"]
    pod_spec = template["spec"]
    for claim in statefulset["spec"]["volumeClaimTemplates"]:
        claim_name = "%s-%s" % (claim["metadata"]["name"], pod_name)
        objects.append({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim_name},
            "spec": claim["spec"],
        })
        pod_spec.setdefault("volumes", []).append({
            "name": claim["metadata"]["name"],
            "persistentVolumeClaim": {"claimName": claim_name},
        })

    # podman 4.3 crashes on a secret volume without `optional` (containers/
    # podman#16636); false is Kubernetes' default anyway.
    for volume in pod_spec.get("volumes", []):
        if "secret" in volume:
            volume["secret"].setdefault("optional", False)

    # The Service's ports become hostPorts; the others stay unpublished
    # (podman would publish them on the host under their own numbers).
    service_ports = {p["targetPort"] for p in service["spec"]["ports"]}
    for container in pod_spec["containers"]:
        container["image"] = image
        container["ports"] = [
            dict(port, hostIP=host_ip, hostPort=int(host_port))
            for port in container.get("ports", [])
            if port.get("name") in service_ports
        ]

    objects.append({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": pod_name, "labels": template["metadata"]["labels"]},
        "spec": pod_spec,
    })
    yaml.safe_dump_all(objects, sys.stdout, sort_keys=False)


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    main(*sys.argv[1:])
