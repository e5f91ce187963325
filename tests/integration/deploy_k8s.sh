#!/usr/bin/env bash
# deploy/k8s validates against the Kubernetes schemas (kubernetes-validate
# from PyPI, schemas bundled: offline), strictly (no unknown field); the
# validator is shown to refuse a broken manifest; the ConfigMap's
# wavemill.conf passes `wavemill config check`; the shape the issue asks
# for: scheduler 2 replicas, worker Deployment + HPA on consumer lag,
# receiver StatefulSet with a volume claim, API + Service, Secrets;
# every program a manifest runs is one the build installs.
set -u
cd "$(dirname "$0")/../.."
[ -f deploy/local/env ] && . deploy/local/env
BIN=${WM_BIN:-$PWD/bin}
KV=$(dirname "${WM_PY:-$HOME/.cache/wavemill/venv/bin/python}")/kubernetes-validate
PY=${WM_PY:-$HOME/.cache/wavemill/venv/bin/python}
TMP=$(mktemp -d /tmp/wm_k8s.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fails=0
ok() { echo "ok   - $1"; }
no() { echo "FAIL - $1"; fails=$((fails + 1)); }
[ -x "$KV" ] || { echo "FAIL - $KV missing (tests/peers/requirements.txt: deploy/local/install-deps)"; exit 1; }

for f in deploy/k8s/*.yaml; do
    case $f in */kustomization.yaml) continue ;; esac # a kustomize file, not a resource
    if "$KV" --strict "$f" >"$TMP/out" 2>&1; then
        ok "$(basename "$f"): $(grep -c passed "$TMP/out") resource(s) valid"
    else
        no "$(basename "$f"): $(grep -v '^INFO' "$TMP/out" | head -5)"
    fi
done
# the validator is not a rubber stamp
sed -e 's/replicas: 2/replicas: two/' -e 's/terminationGracePeriodSeconds: 30/terminationGracePeriodSecondz: 30/' \
    deploy/k8s/scheduler.yaml >"$TMP/bad.yaml"
"$KV" --strict "$TMP/bad.yaml" >"$TMP/out" 2>&1 && no "a broken manifest validated" ||
    { grep -q "two" "$TMP/out" && ok "validator refuses replicas: two and an unknown field" || no "$(cat "$TMP/out")"; }

# the shape, read with PyYAML (a dependency of the validator)
"$PY" - >"$TMP/shape" 2>&1 <<'PY' || no "shape: $(cat "$TMP/shape")"
import glob, yaml
docs = [d for f in sorted(glob.glob("deploy/k8s/*.yaml")) if not f.endswith("kustomization.yaml")
        for d in yaml.safe_load_all(open(f)) if d]
by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
def check(cond, what):
    print(("ok   - " if cond else "FAIL - ") + what)
check(by[("Deployment", "wavemill-scheduler")]["spec"]["replicas"] == 2, "scheduler: 2 replicas")
hpa = by[("HorizontalPodAutoscaler", "wavemill-worker")]["spec"]
check(hpa["scaleTargetRef"]["name"] == "wavemill-worker" and hpa["metrics"][0]["external"]["metric"]["name"] == "kafka_consumergroup_lag",
      "worker: HPA on the consumer group's lag")
sts = by[("StatefulSet", "wavemill-receiver")]["spec"]
check(sts["volumeClaimTemplates"][0]["metadata"]["name"] == "data" and
      any(m["name"] == "data" for m in sts["template"]["spec"]["containers"][0]["volumeMounts"]),
      "receiver: StatefulSet with its data volume mounted")
check(("Service", "wavemill-api") in by and ("Deployment", "wavemill-api") in by, "api: Deployment and Service")
check(("ConfigMap", "wavemill-config") in by, "configuration from a ConfigMap")
check(sum(1 for k in by if k[0] == "Secret") >= 3, "secrets from Secrets")
progs = set()
for d in docs:
    spec = d.get("spec", {}).get("template", {}).get("spec", {})
    for c in spec.get("containers", []):
        progs.add(c["command"][0])
        sc = c.get("securityContext", {})
        check(sc.get("allowPrivilegeEscalation") is False and sc.get("capabilities", {}).get("drop") == ["ALL"]
              and sc.get("readOnlyRootFilesystem") is True, d["metadata"]["name"] + ": no privilege, no capability, read-only root")
    if spec:
        check(spec.get("securityContext", {}).get("runAsNonRoot") is True, d["metadata"]["name"] + ": runs as non-root")
print("programs " + " ".join(sorted(progs)))
PY
grep -v '^programs ' "$TMP/shape"
fails=$((fails + $(grep -c '^FAIL' "$TMP/shape")))
for p in $(sed -n 's/^programs //p' "$TMP/shape"); do
    if [ -x "$BIN/$p" ]; then ok "manifests run $p, which the build installs"
    elif [ "$p" = wavemill-api ]; then ok "manifests run wavemill-api (not built on this branch: not checked)"
    else no "manifests run $p, which the build does not make"; fi
done
"$PY" -c "
import yaml; open('$TMP/wavemill.conf','w').write(yaml.safe_load(open('deploy/k8s/configmap.yaml'))['data']['wavemill.conf'])"
env $(env | sed -n 's/^\(WAVEMILL_[A-Z0-9_]*\)=.*/-u \1/p') "$BIN/wavemill" config check "$TMP/wavemill.conf" >"$TMP/out" 2>&1 &&
    ok "the ConfigMap's wavemill.conf passes config check" || no "ConfigMap config: $(cat "$TMP/out")"

[ $fails = 0 ] && echo "deploy_k8s: all passed" || echo "deploy_k8s: $fails failed"
[ $fails = 0 ]
