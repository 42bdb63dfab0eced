#!/usr/bin/env bats
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# deploy/: the Kubernetes manifests carry what a BPF daemon on a fleet needs,
# the entrypoint picks a node's interface, deploy/image.sh runs the
# Containerfile's steps from the Debian package into a folder, and the image
# started the way the DaemonSet starts it (command, env, volumes as host
# paths), in a network namespace, attaches, serves its socket on the host
# path, and once stopped leaves traffic flowing for the next one to adopt.

load ../lib/common
load ../lib/daemon

setup_file() {
	require_root
	python3 -c 'import yaml' 2>/dev/null || skip "python3-yaml not installed"
	daemon_setup dp
	export K=$SLUICE_TOP/deploy/kubernetes IMG=$WORK/image
	ip -n "$TOPO_DUT_NS" route add default via "$TOPO_GEN_IP"
	# The pod's volumes, as host paths of the test's own: a folder of the
	# host's bpffs stands for the whole of it.
	mkdir -p "$PIN" "$WORK/run" "$WORK/state" "$WORK/template" "$WORK/tmp"
	python3 -c '
import sys, yaml
cm = yaml.safe_load(open(sys.argv[1]))
open(sys.argv[2], "w").write(cm["data"]["sluiced.yaml"])' "$K/configmap.yaml" "$WORK/template/sluiced.yaml"
}

teardown_file() {
	daemon_teardown
}

# py EXPR: a python expression over the DaemonSet (ds), its container (c)
# and ConfigMap (cm), printed.
py() {
	python3 -c '
import sys, yaml
ds = yaml.safe_load(open(sys.argv[1] + "/daemonset.yaml"))
cm = yaml.safe_load(open(sys.argv[1] + "/configmap.yaml"))
spec = ds["spec"]["template"]["spec"]
c = spec["containers"][0]
mounts = {m["name"]: m for m in c["volumeMounts"]}
vols = {v["name"]: v for v in spec["volumes"]}
print(eval(sys.argv[2]))' "$K" "$1"
}

@test "manifests parse; kustomization names files that exist" {
	for f in "$K"/*.yaml; do
		python3 -c 'import sys, yaml; list(yaml.safe_load_all(open(sys.argv[1])))' "$f"
	done
	for r in $(python3 -c 'import sys, yaml; print(*yaml.safe_load(open(sys.argv[1]))["resources"])' \
		"$K/kustomization.yaml"); do
		[ -f "$K/$r" ]
	done
}

@test "DaemonSet: host network, capabilities not privilege, the unit's capability set" {
	[ "$(py 'spec["hostNetwork"]')" = True ]
	[ "$(py 'c["securityContext"].get("privileged", False)')" = False ]
	[ "$(py 'c["securityContext"]["capabilities"]["drop"]')" = "['ALL']" ]
	pod=$(py '" ".join(sorted("CAP_" + x for x in c["securityContext"]["capabilities"]["add"]))')
	unit=$(sed -n 's/^CapabilityBoundingSet=//p' "$SLUICE_TOP/daemon/sluiced.service.in" | tr ' ' '\n' | sort | xargs)
	echo "pod: $pod; unit: $unit"
	[ "$pod" = "$unit" ]
}

@test "DaemonSet: bpffs from the host with HostToContainer, socket and state on host paths" {
	[ "$(py 'vols["bpffs"]["hostPath"]["path"]')" = /sys/fs/bpf ]
	[ "$(py 'mounts["bpffs"]["mountPath"]')" = /sys/fs/bpf ]
	# Needs no privileged pod, unlike Bidirectional.
	[ "$(py 'mounts["bpffs"]["mountPropagation"]')" = HostToContainer ]
	[ "$(py 'vols["run"]["hostPath"]["path"] + " " + mounts["run"]["mountPath"]')" = "/run/sluice /run/sluice" ]
	[ "$(py 'vols["state"]["hostPath"]["path"]')" = /var/lib/sluice ]
	[ "$(py 'vols["template"]["configMap"]["name"] == cm["metadata"]["name"]')" = True ]
	# The configuration's paths are the mounted ones.
	[ "$(py 'yaml.safe_load(cm["data"]["sluiced.yaml"].replace("@INTERFACE@", "x"))["control"]["socket"]')" = /run/sluice/sluiced.sock ]
	[ "$(py 'yaml.safe_load(cm["data"]["sluiced.yaml"].replace("@INTERFACE@", "x"))["pin_root"].startswith("/sys/fs/bpf/")')" = True ]
}

@test "DaemonSet: metrics port and scrape annotations, probes from sluicectl status" {
	[ "$(py 'c["ports"][0]["containerPort"]')" = 9469 ]
	a=$(py 'ds["spec"]["template"]["metadata"]["annotations"]')
	[[ "$a" == *"'prometheus.io/scrape': 'true'"* && "$a" == *"'prometheus.io/port': '9469'"* ]]
	[[ "$(py 'yaml.safe_load(cm["data"]["sluiced.yaml"].replace("@INTERFACE@", "x"))["metrics"]["listen"]')" == *:9469 ]]
	for p in livenessProbe readinessProbe; do
		[[ "$(py "' '.join(c['$p']['exec']['command'])")" == "/usr/sbin/sluicectl "*" status" ]]
	done
	# The container runs the image's entrypoint.
	grep -qx 'ENTRYPOINT \["/usr/lib/sluice/entrypoint"\]' "$SLUICE_TOP/deploy/Containerfile"
	[ "$(py 'c["command"]')" = "['/usr/lib/sluice/entrypoint']" ]
}

@test "the ConfigMap's template renders to a configuration sluiced accepts" {
	SLUICE_INTERFACE=lo SLUICE_TEMPLATE=$WORK/template/sluiced.yaml SLUICE_CONFIG=$WORK/rendered.yaml \
		sh "$SLUICE_TOP/deploy/entrypoint.sh" --render
	grep -q 'name: lo$' "$WORK/rendered.yaml"
	"$SLUICED" -n -c "$WORK/rendered.yaml"
}

@test "entrypoint: interface by name, by pattern, by default route; clear errors" {
	e=$SLUICE_TOP/deploy/entrypoint.sh
	run ip netns exec "$TOPO_DUT_NS" sh "$e" --resolve
	[ "$status" -eq 0 ] && [ "$output" = "$TOPO_DUT_IF" ]
	run ip netns exec "$TOPO_DUT_NS" env SLUICE_INTERFACE_PATTERN="nomatch*|*-d0" sh "$e" --resolve
	[ "$output" = "$TOPO_DUT_IF" ]
	run ip netns exec "$TOPO_DUT_NS" env SLUICE_INTERFACE_PATTERN="eth*" NODE_NAME=n1 sh "$e" --resolve
	[ "$status" -eq 1 ]
	[[ "$output" == *"SLUICE_INTERFACE_PATTERN=eth*: no interface matches on n1"* ]]
	run ip netns exec "$TOPO_DUT_NS" env SLUICE_INTERFACE=eth7 sh "$e" --resolve
	[ "$status" -eq 1 ]
	[[ "$output" == *"SLUICE_INTERFACE=eth7: no such interface"* ]]
	# The generator's side has no default route.
	run ip netns exec "$TOPO_GEN_NS" sh "$e" --resolve
	[ "$status" -eq 1 ]
	[[ "$output" == *"no default route"* ]]
}

@test "image.sh: the Containerfile's steps from the Debian package, into a folder" {
	command -v dpkg-buildpackage >/dev/null || skip "debhelper not installed (scripts/deps.sh)"
	make -C "$SLUICE_TOP" deb O="$WORK/o" >/dev/null
	run "$SLUICE_TOP/deploy/image.sh" build --deb "$(ls "$WORK"/o/deb/sluice_*_*.deb)" "$IMG"
	echo "$output" | tail -5
	[ "$status" -eq 0 ]
	# apt installed the package in the image's layer, not on this machine.
	[ -x "$IMG/layer/usr/sbin/sluiced" ] && [ -x "$IMG/layer/usr/lib/sluice/entrypoint" ]
	grep -q '^Package: sluice$' "$IMG/layer/var/lib/dpkg/status"
	grep -qx 'ENTRYPOINT \["/usr/lib/sluice/entrypoint"\]' "$IMG/config"
}

# pod ARGS...: the image as the DaemonSet runs it: its env, its volumes (as
# the test's host paths), in the DUT namespace. $! is sluiced in the end.
pod_volumes() {
	echo --bind "$PIN:/sys/fs/bpf" --bind "$WORK/run:/run/sluice" --bind "$WORK/state:/var/lib/sluice" \
		--bind "$WORK/template:/etc/sluice/template" --bind "$WORK/tmp:/tmp"
}

pod_env() {
	py '" ".join("--env %s=%s" % (e["name"], e.get("value", "node-1")) for e in c["env"])'
}

pod_start() {
	nsenter --net="/run/netns/$TOPO_DUT_NS" "$SLUICE_TOP/deploy/image.sh" run "$IMG" \
		$(pod_volumes) $(pod_env) $(py '" ".join(c["args"])') >>"$WORK/pod.log" 2>&1 3>&- &
	echo $! > "$WORK/pid"
	for _ in $(seq 100); do
		"$SLUICECTL" -s "$WORK/run/sluiced.sock" status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	cat "$WORK/pod.log"
	return 1
}

# probe: the DaemonSet's liveness command, run in the image like an exec probe.
probe() {
	nsenter --net="/run/netns/$TOPO_DUT_NS" "$SLUICE_TOP/deploy/image.sh" run "$IMG" \
		$(pod_volumes) --exec -- $(py '" ".join(c["livenessProbe"]["exec"]["command"])')
}

link_id() {
	"$SLUICECTL" -s "$WORK/run/sluiced.sock" -j status | jq '.interfaces[0].link_id'
}

@test "the pod: attaches on the default route's interface; probes pass; socket on the host path" {
	[ -d "$IMG/layer" ] || skip "no image (the test before)"
	pod_start
	grep -q "interface $TOPO_DUT_IF on node-1" "$WORK/pod.log"
	[ -n "$(xdp_prog_id)" ]
	run probe
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"$TOPO_DUT_IF: ifindex"* ]]
	static_neigh
	ping_dut 5 0.05
	link_id > "$WORK/link1"
	# The interface's folder, and the pin root's selector words (group commits).
	[ "$(ls "$PIN/sluice" | grep -vx selectors)" = "$TOPO_DUT_IF" ]
}

@test "pod gone: pins stay in the host's bpffs, traffic flows; the next pod adopts them" {
	[ -s "$WORK/link1" ] || skip "no pod (the test before)"
	prog=$(xdp_prog_id)
	kill "$(cat "$WORK/pid")"
	for _ in $(seq 50); do kill -0 "$(cat "$WORK/pid")" 2>/dev/null || break; sleep 0.1; done
	! kill -0 "$(cat "$WORK/pid")" 2>/dev/null
	run probe
	[ "$status" -ne 0 ]	# liveness fails while no daemon runs
	[ "$(xdp_prog_id)" = "$prog" ]
	ping_dut 5 0.05
	[ -e "$PIN/sluice/$TOPO_DUT_IF/link" ]
	pod_start
	[ "$(link_id)" = "$(cat "$WORK/link1")" ]
	[ "$(xdp_prog_id)" = "$prog" ]
	grep -qi "adopt" "$WORK/pod.log"
	probe >/dev/null
	"$SLUICECTL" -s "$WORK/run/sluiced.sock" down "$TOPO_DUT_IF"
}
