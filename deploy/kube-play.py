#!/usr/bin/env python3
"""Renders deploy/k8s/ for `podman kube play` on a single host.

podman 4.3 (Debian 12) plays Pods, Deployments and PersistentVolumeClaims,
not StatefulSets or Services, has no kustomize, and cannot mount a Secret's
files with their content (it writes them base64-encoded: containers/podman
#16625, fixed in 4.4). This prints what the cluster would run, as objects it
plays:

  - the PersistentVolumeClaim the StatefulSet's claim template makes for its
    first pod (data-rbfs-server-0);
  - that pod, rbfs-server-0: the StatefulSet's pod template unchanged, but
    for the image, a hostPort standing in for the Service (other ports are
    not published), and the generated Secret's volume replaced by the
    directory its files come from (SECRETS_DIR, mounted read-only as the
    manifest says).

usage: kube-play.py K8S_DIR SECRETS_DIR IMAGE HOST_IP HOST_PORT > play.yaml
"""

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

    generated = {g["name"] for g in kustomization["secretGenerator"]}
    for volume in pod_spec["volumes"]:
        secret = volume.get("secret")
        if secret and secret["secretName"] in generated:
            del volume["secret"]
            volume["hostPath"] = {
                "path": os.path.abspath(secrets_dir),
                "type": "Directory",
            }

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
