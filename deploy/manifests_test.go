package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/hessian-cluster/hess/internal/clusterplan"
)

// The memory a worker needs, as worker-statefulset.yaml explains it.
const (
	hessianOrder = 7840  // N: 784 pixels x 10 classes
	maxTileSize  = 1024  // the largest tile the API carries (proto/hessian/v1)
	dataBytes    = 28e6  // the full MNIST training set as the workers keep it
	curvBytes    = 27e6  // the step's curvature coefficients, 448 bytes per image
	runtimeBytes = 100e6 // Go runtime, gRPC buffers, goroutine stacks
)

// workerMemoryNeed is the memory in bytes that the busiest of p workers needs with tiles
// of side t: its own tiles (assembled, then factored in place), the factor tiles of two
// panels received from its peers (worker/factor.go looks one panel ahead), the training
// set with the step's curvature coefficients (kept for the residuals of iterative
// refinement, which are computed from the images), and the runtime. The tiles are
// counted in the coordinator's own layout (clusterplan).
func workerMemoryNeed(p, t int) (float64, error) {
	plan, err := clusterplan.New(hessianOrder, p, t)
	if err != nil {
		return 0, err
	}
	var most int64
	for r := range p {
		most = max(most, plan.StoredBytes(r))
	}
	_, side := plan.Span(0)
	received := 2 * hessianOrder * side * 8
	return float64(most) + float64(received) + dataBytes + curvBytes + runtimeBytes, nil
}

// tileSize returns the tile size of a train command line for p workers: its --tile-size,
// or the coordinator's choice without one.
func tileSize(args []string, p int) (int, error) {
	if _, ok, err := flagValue(args, "tile-size"); err != nil || !ok {
		return clusterplan.DefaultTileSize(hessianOrder, p), err
	}
	t, err := intFlag(args, "tile-size")
	if err == nil && t > maxTileSize {
		err = fmt.Errorf("--tile-size %d; the API carries tiles of at most %d", t, maxTileSize)
	}
	return t, err
}

// manifests are the decoded objects of deploy/k8s, by name within each kind.
type manifests struct {
	services     map[string]*corev1.Service
	statefulSets map[string]*appsv1.StatefulSet
	jobs         map[string]*batchv1.Job
	claims       map[string]*corev1.PersistentVolumeClaim
}

// add decodes doc strictly into the API type of apiVersion and kind and keeps it.
func (m *manifests) add(apiVersion, kind string, doc []byte) error {
	var err error
	switch apiVersion + " " + kind {
	case "v1 Service":
		err = addObject(m.services, doc)
	case "apps/v1 StatefulSet":
		err = addObject(m.statefulSets, doc)
	case "batch/v1 Job":
		err = addObject(m.jobs, doc)
	case "v1 PersistentVolumeClaim":
		err = addObject(m.claims, doc)
	default:
		return fmt.Errorf("apiVersion %q kind %q: not a kind this test knows (add it to manifests.add)", apiVersion, kind)
	}
	return err
}

// named is what every API object has.
type named interface{ GetName() string }

// addObject decodes doc strictly into a new T and keeps it under its name.
func addObject[T any, PT interface {
	*T
	named
}](dst map[string]PT, doc []byte) error {
	obj := PT(new(T))
	if err := decodeStrict(doc, obj); err != nil {
		return err
	}
	name := obj.GetName()
	if name == "" {
		return fmt.Errorf("no metadata.name")
	}
	if _, dup := dst[name]; dup {
		return fmt.Errorf("a second object named %q of this kind", name)
	}
	dst[name] = obj
	return nil
}

// decodeStrict decodes one YAML document into obj the way the API server's strict field
// validation does: a duplicate key, an unknown field, or a field whose case differs from
// the API's (encoding/json would accept "ReadinessProbe" for readinessProbe;
// sigs.k8s.io/json, the API machinery's decoder, does not) is an error.
func decodeStrict(doc []byte, obj any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strictErrs, err := kjson.UnmarshalStrict(j, obj)
	if err != nil {
		return err
	}
	if len(strictErrs) > 0 {
		msgs := make([]string, len(strictErrs))
		for i, e := range strictErrs {
			msgs[i] = e.Error()
		}
		return fmt.Errorf("strict decoding: %s", strings.Join(msgs, "; "))
	}
	return nil
}

var documentSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decodeFile adds the objects of one YAML file, which may hold several documents.
func (m *manifests) decodeFile(name string, text []byte) error {
	for i, doc := range documentSeparator.Split(string(text), -1) {
		j, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		if bytes.Equal(bytes.TrimSpace(j), []byte("null")) {
			continue // comments only
		}
		var tm struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := json.Unmarshal(j, &tm); err != nil {
			return fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		if err := m.add(tm.APIVersion, tm.Kind, []byte(doc)); err != nil {
			return fmt.Errorf("%s: document %d (%s): %w", name, i, tm.Kind, err)
		}
	}
	return nil
}

func newManifests() *manifests {
	return &manifests{
		services:     map[string]*corev1.Service{},
		statefulSets: map[string]*appsv1.StatefulSet{},
		jobs:         map[string]*batchv1.Job{},
		claims:       map[string]*corev1.PersistentVolumeClaim{},
	}
}

// loadManifests decodes every .yaml file of dir.
func loadManifests(dir string) (*manifests, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no .yaml files in %s", dir)
	}
	m := newManifests()
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if err := m.decodeFile(filepath.Base(f), text); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// readManifestFiles returns the text of every manifest, by its path under k8s/
// (worker-service.yaml, secure/train-job.yaml).
func readManifestFiles(t *testing.T) map[string][]byte {
	t.Helper()
	texts := map[string][]byte{}
	for _, dir := range []string{"k8s", "k8s/secure"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no manifests in %s/: %v", dir, err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			rel, err := filepath.Rel("k8s", f)
			if err != nil {
				t.Fatal(err)
			}
			texts[filepath.ToSlash(rel)] = b
		}
	}
	return texts
}

func mustLoadManifests(t *testing.T) *manifests {
	t.Helper()
	m, err := loadManifests("k8s")
	if err != nil {
		t.Fatalf("loadManifests(k8s): %v", err)
	}
	return m
}

func TestManifestsDecodeStrictly(t *testing.T) {
	m := mustLoadManifests(t)
	for kind, got := range map[string]int{
		"Service": len(m.services), "StatefulSet": len(m.statefulSets),
		"Job": len(m.jobs), "PersistentVolumeClaim": len(m.claims),
	} {
		if got != 1 {
			t.Errorf("k8s/ has %d objects of kind %s; want 1", got, kind)
		}
	}
	// The secured variant replaces the StatefulSet and the Job, and only them.
	sec, err := loadManifests(secureDir)
	if err != nil {
		t.Fatalf("loadManifests(%s): %v", secureDir, err)
	}
	for kind, got := range map[string]int{
		"Service": len(sec.services), "StatefulSet": len(sec.statefulSets),
		"Job": len(sec.jobs), "PersistentVolumeClaim": len(sec.claims),
	} {
		if want := map[string]int{"StatefulSet": 1, "Job": 1}[kind]; got != want {
			t.Errorf("%s/ has %d objects of kind %s; want %d", secureDir, got, kind, want)
		}
	}
}

func TestWorkerMemoryNeed(t *testing.T) {
	// One worker, tiles of 1568 = 7840/5: the 15 lower tiles of 1568^2 doubles
	// (19,668,992 B each), two panels of 7840 x 1568 doubles received, and 155e6 B of
	// data, curvature coefficients and runtime.
	got, err := workerMemoryNeed(1, 1568)
	if want := 15*19668992.0 + 2*7840*1568*8 + 155e6; err != nil || got != want {
		t.Errorf("workerMemoryNeed(1, 1568) = %.0f, %v; want %.0f", got, err, want)
	}
	// Over p workers the busiest holds at least an even share of the lower triangle,
	// N^2/2 * 8 B / p, and at most that plus its diagonal tiles' upper halves and one
	// column of tiles more (the block-cyclic layout is uneven by at most that).
	for _, p := range []int{2, 3, 4, 8} {
		const ts = 240
		got, err := workerMemoryNeed(p, ts)
		if err != nil {
			t.Fatal(err)
		}
		n := float64(hessianOrder)
		fixed := 2*n*ts*8 + 155e6
		low := n*n/2*8/float64(p) + fixed
		high := (n*n/2+n*ts/2+n*ts)*8/float64(p) + n*ts*8 + fixed
		if got < low || got > high {
			t.Errorf("workerMemoryNeed(%d, %d) = %.0f; want in [%.0f, %.0f]", p, ts, got, low, high)
		}
	}
	if _, err := workerMemoryNeed(0, 240); err == nil {
		t.Error("workerMemoryNeed(0 workers) did not fail")
	}
}

func TestManifestsAgree(t *testing.T) {
	m := mustLoadManifests(t)
	for _, err := range checkManifests(m) {
		t.Error(err)
	}
}

// TestStrictDecodingCatchesTypos breaks a manifest the ways a hand edit does and checks
// that decoding fails: the strictness is what the other tests rely on.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	texts := readManifestFiles(t)
	for _, tc := range []struct {
		name, file, old, new, wantErr string
	}{
		{"misspelt field", "worker-statefulset.yaml", "readinessProbe:", "readinesProbe:", "unknown field"},
		{"field in the wrong case", "worker-statefulset.yaml", "containerPort: 7070", "ContainerPort: 7070", "unknown field"},
		{"field at the wrong level", "worker-statefulset.yaml", "  serviceName: hess-worker", "  serviceName: hess-worker\n  image: hess:latest", "unknown field"},
		{"duplicate key", "worker-statefulset.yaml", "  replicas: 3", "  replicas: 3\n  replicas: 4", "already set"},
		{"bad quantity", "worker-statefulset.yaml", "memory: 384Mi", "memory: 384MB!", "quantities must match"},
		{"wrong type", "worker-service.yaml", "port: 7070", "port: seventy", "cannot unmarshal"},
		{"unknown kind", "train-job.yaml", "kind: Job", "kind: Jobb", "not a kind this test knows"},
		{"misspelt probe kind", "worker-statefulset.yaml", "grpc:\n              port: 7070\n            periodSeconds: 5", "gprc:\n              port: 7070\n            periodSeconds: 5", "unknown field"},
		{"misspelt secret field", "secure/worker-statefulset.yaml", "secretName: hess-tls", "secretname: hess-tls", "unknown field"},
		{"mode as a string", "secure/train-job.yaml", "defaultMode: 0440", `defaultMode: "0440"`, "cannot unmarshal"},
		{"readOnly misspelt", "secure/train-job.yaml", "readOnly: true", "readonly: true", "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := string(texts[tc.file])
			if !strings.Contains(text, tc.old) {
				t.Fatalf("%s does not contain %q: update the test", tc.file, tc.old)
			}
			broken := strings.Replace(text, tc.old, tc.new, 1)
			err := newManifests().decodeFile(tc.file, []byte(broken))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("decoding %s with %q -> %q: error %v; want one containing %q", tc.file, tc.old, tc.new, err, tc.wantErr)
			}
		})
	}
}

// TestChecksCatchDisagreements breaks one invariant at a time in the decoded manifests and
// checks that checkManifests reports it.
func TestChecksCatchDisagreements(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mutate  func(m *manifests)
		wantErr string
	}{
		{"job looks for another service", func(m *manifests) {
			setArg(job(m), "--workers", "hess-workers:7070")
		}, "not the headless Service"},
		{"job dials another port", func(m *manifests) { setArg(job(m), "--workers", "hess-worker:7071") }, "port 7071"},
		{"job expects fewer workers", func(m *manifests) { setArg(job(m), "--expect-workers", "2") }, "--expect-workers 2"},
		{"worker listens elsewhere", func(m *manifests) { setArg(worker(m), "--listen", ":7071") }, "--listen"},
		{"worker listens on loopback", func(m *manifests) { setArg(worker(m), "--listen", "127.0.0.1:7070") }, "all interfaces"},
		{"tcp readiness probe", func(m *manifests) {
			p := worker(m).ReadinessProbe
			p.GRPC, p.TCPSocket = nil, &corev1.TCPSocketAction{}
		}, "readinessProbe: not a gRPC probe"},
		{"no liveness probe", func(m *manifests) { worker(m).LivenessProbe = nil }, "livenessProbe: missing"},
		{"probe on the metrics port", func(m *manifests) { worker(m).LivenessProbe.GRPC.Port = 9090 }, "livenessProbe: gRPC port 9090"},
		{"service not headless", func(m *manifests) {
			for _, s := range m.services {
				s.Spec.ClusterIP = ""
			}
		}, "headless"},
		{"statefulset names another service", func(m *manifests) { sts(m).Spec.ServiceName = "other" }, "serviceName"},
		{"selector misses the pods", func(m *manifests) {
			for _, s := range m.services {
				s.Spec.Selector["app.kubernetes.io/component"] = "nope"
			}
		}, "selector"},
		{"root user", func(m *manifests) { root := int64(0); job(m).SecurityContext.RunAsUser = &root }, "runAsUser 0"},
		{"runAsNonRoot off", func(m *manifests) { f := false; sts(m).Spec.Template.Spec.SecurityContext.RunAsNonRoot = &f }, "runAsNonRoot"},
		{"writable root", func(m *manifests) { f := false; worker(m).SecurityContext.ReadOnlyRootFilesystem = &f }, "readOnlyRootFilesystem"},
		{"capabilities kept", func(m *manifests) { worker(m).SecurityContext.Capabilities.Drop = nil }, "drop ALL"},
		{"capability added", func(m *manifests) {
			job(m).SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"}
		}, "adds capabilities"},
		{"privilege escalation", func(m *manifests) { tr := true; worker(m).SecurityContext.AllowPrivilegeEscalation = &tr }, "allowPrivilegeEscalation"},
		{"too little memory", func(m *manifests) {
			worker(m).Resources.Requests[corev1.ResourceMemory] = mustQuantity("200Mi")
		}, "memory request"},
		{"more workers than the job expects", func(m *manifests) { six := int32(6); sts(m).Spec.Replicas = &six }, "--expect-workers 3"},
		// Tiles of 1024 need 490.8 MB per worker, the request is 384Mi = 402.7 MB.
		{"a request below the need", func(m *manifests) {
			worker(m).Resources.Requests[corev1.ResourceMemory] = mustQuantity("200Mi")
		}, "memory request"},
		{"tiles too big for the API", func(m *manifests) { setArg(job(m), "--tile-size", "2048") }, "at most 1024"},
		{"GOMEMLIMIT above the limit", func(m *manifests) { setEnv(worker(m), "GOMEMLIMIT", "1GiB") }, "GOMEMLIMIT"},
		{"output not on a volume", func(m *manifests) { setArg(job(m), "--out", "/results") }, "--out /results"},
		{"different images", func(m *manifests) { job(m).Image = "hess:old" }, "image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mustLoadManifests(t) // a fresh copy for each case
			tc.mutate(m)
			errs := checkManifests(m)
			for _, err := range errs {
				if strings.Contains(err.Error(), tc.wantErr) {
					return
				}
			}
			t.Errorf("checkManifests after %q = %v; want an error containing %q", tc.name, errs, tc.wantErr)
		})
	}
}

// checkManifests returns every way in which the manifests disagree with one another or
// with the rules of the house (no root, no privileges, gRPC probes, memory for the tiles).
func checkManifests(m *manifests) []error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(m.statefulSets) != 1 || len(m.jobs) != 1 {
		fail("want one StatefulSet and one Job, have %d and %d", len(m.statefulSets), len(m.jobs))
		return errs
	}
	ss, jb := only(m.statefulSets), only(m.jobs)

	// The headless Service that governs the StatefulSet.
	svc, ok := m.services[ss.Spec.ServiceName]
	if !ok {
		fail("StatefulSet %s: serviceName %q is not a Service in k8s/", ss.Name, ss.Spec.ServiceName)
		return errs
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		fail("Service %s: clusterIP %q; want None (headless, so its DNS name lists every worker)", svc.Name, svc.Spec.ClusterIP)
	}
	podLabels := ss.Spec.Template.Labels
	if len(svc.Spec.Selector) == 0 || !subset(svc.Spec.Selector, podLabels) {
		fail("Service %s: selector %v does not select the worker pods (labels %v)", svc.Name, svc.Spec.Selector, podLabels)
	}
	if ss.Spec.Selector == nil || len(ss.Spec.Selector.MatchLabels) == 0 || !subset(ss.Spec.Selector.MatchLabels, podLabels) {
		fail("StatefulSet %s: selector does not match its pod template's labels %v", ss.Name, podLabels)
	}
	if ss.Spec.Replicas == nil || *ss.Spec.Replicas < 2 {
		fail("StatefulSet %s: replicas %v; want at least 2 workers", ss.Name, ss.Spec.Replicas)
		return errs
	}
	replicas := int(*ss.Spec.Replicas)

	// The worker: one container, listening on all interfaces at the port the Service and
	// the probes use.
	wpod := &ss.Spec.Template.Spec
	if len(wpod.Containers) != 1 {
		fail("StatefulSet %s: %d containers; want 1", ss.Name, len(wpod.Containers))
		return errs
	}
	w := &wpod.Containers[0]
	if len(w.Args) == 0 || w.Args[0] != "worker" {
		fail("StatefulSet %s: args %q; want the worker subcommand first", ss.Name, w.Args)
	}
	grpcPort := containerPort(w, "grpc")
	if grpcPort == 0 {
		fail("StatefulSet %s: container %s has no port named grpc", ss.Name, w.Name)
	}
	if listen, err := requiredFlag(w.Args, "listen"); err != nil {
		fail("StatefulSet %s: %v", ss.Name, err)
	} else if host, port, err := splitHostPort(listen); err != nil {
		fail("StatefulSet %s: --listen: %v", ss.Name, err)
	} else {
		if host != "" && host != "0.0.0.0" {
			fail("StatefulSet %s: --listen %s; want all interfaces (:%d), or the probes and peers cannot connect", ss.Name, listen, grpcPort)
		}
		if port != grpcPort {
			fail("StatefulSet %s: --listen %s but containerPort grpc is %d", ss.Name, listen, grpcPort)
		}
	}
	svcPort := 0
	for _, p := range svc.Spec.Ports {
		if p.Name != "grpc" {
			continue
		}
		svcPort = int(p.Port)
		target := p.TargetPort.IntValue()
		if p.TargetPort.StrVal != "" {
			target = containerPort(w, p.TargetPort.StrVal)
		}
		if target != grpcPort {
			fail("Service %s: port grpc targets %s, which is not the worker's grpc port %d", svc.Name, p.TargetPort.String(), grpcPort)
		}
	}
	if svcPort == 0 {
		fail("Service %s: no port named grpc", svc.Name)
	}
	// The probes call the health service on the gRPC port or, where that port wants
	// certificates that the kubelet cannot present, on the plaintext health port.
	healthPort, healthName := grpcPort, "grpc"
	if hl, ok, err := flagValue(w.Args, "health-listen"); err != nil {
		fail("StatefulSet %s: %v", ss.Name, err)
	} else if ok {
		healthPort, healthName = containerPort(w, "health"), "health"
		if healthPort == 0 {
			fail("StatefulSet %s: --health-listen %s but the container has no port named health", ss.Name, hl)
		}
		if host, port, err := splitHostPort(hl); err != nil {
			fail("StatefulSet %s: --health-listen: %v", ss.Name, err)
		} else if host != "" && host != "0.0.0.0" {
			fail("StatefulSet %s: --health-listen %s; want all interfaces (:%d), or the kubelet's probes cannot connect", ss.Name, hl, port)
		} else if port != healthPort {
			fail("StatefulSet %s: --health-listen %s but containerPort health is %d", ss.Name, hl, healthPort)
		}
	} else if _, tls, _ := flagValue(w.Args, "tls-cert"); tls {
		fail("StatefulSet %s: --tls-cert without --health-listen: the kubelet's gRPC probes cannot present a certificate", ss.Name)
	}
	for name, p := range map[string]*corev1.Probe{"readinessProbe": w.ReadinessProbe, "livenessProbe": w.LivenessProbe} {
		switch {
		case p == nil:
			fail("StatefulSet %s: %s: missing", ss.Name, name)
		case p.GRPC == nil || p.Exec != nil || p.HTTPGet != nil || p.TCPSocket != nil:
			fail("StatefulSet %s: %s: not a gRPC probe (the worker serves grpc.health.v1)", ss.Name, name)
		case int(p.GRPC.Port) != healthPort:
			fail("StatefulSet %s: %s: gRPC port %d; want the worker's %s port %d", ss.Name, name, p.GRPC.Port, healthName, healthPort)
		}
	}

	// The Job: trains against the Service's DNS name, expecting every replica.
	jpod := &jb.Spec.Template.Spec
	if len(jpod.Containers) != 1 {
		fail("Job %s: %d containers; want 1", jb.Name, len(jpod.Containers))
		return errs
	}
	tc := &jpod.Containers[0]
	if len(tc.Args) == 0 || tc.Args[0] != "train" {
		fail("Job %s: args %q; want the train subcommand first", jb.Name, tc.Args)
	}
	if jpod.RestartPolicy != corev1.RestartPolicyNever && jpod.RestartPolicy != corev1.RestartPolicyOnFailure {
		fail("Job %s: restartPolicy %q; a Job needs Never or OnFailure", jb.Name, jpod.RestartPolicy)
	}
	if workers, err := requiredFlag(tc.Args, "workers"); err != nil {
		fail("Job %s: %v", jb.Name, err)
	} else if host, port, err := splitHostPort(workers); err != nil {
		fail("Job %s: --workers %q: want the Service's DNS name and port: %v", jb.Name, workers, err)
	} else {
		if host != svc.Name && !strings.HasPrefix(host, svc.Name+".") {
			fail("Job %s: --workers %s: %q is not the headless Service %s", jb.Name, workers, host, svc.Name)
		}
		if port != svcPort {
			fail("Job %s: --workers %s: port %d; the Service's grpc port is %d", jb.Name, workers, port, svcPort)
		}
	}
	if n, err := intFlag(tc.Args, "expect-workers"); err != nil {
		fail("Job %s: %v", jb.Name, err)
	} else if n != replicas {
		fail("Job %s: --expect-workers %d; the StatefulSet runs %d (--expect-workers %d)", jb.Name, n, replicas, replicas)
	}
	if out, err := requiredFlag(tc.Args, "out"); err != nil {
		fail("Job %s: %v", jb.Name, err)
	} else if vol := mountAt(tc, out); vol == "" || claimOf(jpod, vol) == "" {
		fail("Job %s: --out %s is not on a PersistentVolumeClaim: the checkpoint would die with the pod", jb.Name, out)
	} else if _, ok := m.claims[claimOf(jpod, vol)]; !ok {
		fail("Job %s: volume %s claims %q, which is not in k8s/", jb.Name, vol, claimOf(jpod, vol))
	}

	// Memory for the tiles, of the size the Job asks for or the coordinator chooses.
	tile, err := tileSize(tc.Args, replicas)
	if err != nil {
		fail("Job %s: %v", jb.Name, err)
	} else {
		need, err := workerMemoryNeed(replicas, tile)
		req := w.Resources.Requests.Memory()
		if err != nil {
			fail("StatefulSet %s: %v", ss.Name, err)
		} else if float64(req.Value()) < need {
			fail("StatefulSet %s: memory request %s = %.0f MB; %d workers with tiles of %d need %.0f MB each", ss.Name, req, float64(req.Value())/1e6, replicas, tile, need/1e6)
		}
	}
	for _, c := range []struct {
		owner string
		c     *corev1.Container
	}{{"StatefulSet " + ss.Name, w}, {"Job " + jb.Name, tc}} {
		req, lim := c.c.Resources.Requests.Memory(), c.c.Resources.Limits.Memory()
		if req.IsZero() || lim.IsZero() {
			fail("%s: memory request %s and limit %s; want both", c.owner, req, lim)
			continue
		}
		if lim.Cmp(*req) < 0 {
			fail("%s: memory limit %s below the request %s", c.owner, lim, req)
		}
		for _, e := range c.c.Env {
			if e.Name != "GOMEMLIMIT" {
				continue
			}
			v, err := parseGoMemLimit(e.Value)
			if err != nil {
				fail("%s: %v", c.owner, err)
			} else if v >= lim.Value() {
				fail("%s: GOMEMLIMIT %s is not below the memory limit %s", c.owner, e.Value, lim)
			}
		}
	}

	// No privileges anywhere; one image.
	for _, p := range []struct {
		owner string
		spec  *corev1.PodSpec
	}{{"StatefulSet " + ss.Name, wpod}, {"Job " + jb.Name, jpod}} {
		errs = append(errs, checkPodSecurity(p.owner, p.spec)...)
		if p.spec.TerminationGracePeriodSeconds == nil || *p.spec.TerminationGracePeriodSeconds < 10 {
			fail("%s: terminationGracePeriodSeconds %v; want at least 10 s for SIGTERM to drain", p.owner, p.spec.TerminationGracePeriodSeconds)
		}
	}
	if w.Image != tc.Image || w.Image == "" {
		fail("worker image %q and train image %q: want the same hess image", w.Image, tc.Image)
	}
	return errs
}

// checkPodSecurity checks that the pod and each of its containers run as a non-root user
// with a read-only root, no privilege, no escalation and no capabilities.
func checkPodSecurity(owner string, spec *corev1.PodSpec) []error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(owner+": "+format, a...)) }
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		fail("pod securityContext.runAsNonRoot is not true")
	}
	if psc != nil && psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		fail("pod runAsUser 0 (root)")
	}
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		sc := c.SecurityContext
		if sc == nil {
			fail("container %s: no securityContext", c.Name)
			continue
		}
		if sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot {
			fail("container %s: runAsNonRoot false", c.Name)
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			fail("container %s: runAsUser 0 (root)", c.Name)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			fail("container %s: readOnlyRootFilesystem is not true", c.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			fail("container %s: allowPrivilegeEscalation is not false", c.Name)
		}
		if sc.Privileged != nil && *sc.Privileged {
			fail("container %s: privileged", c.Name)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			fail("container %s: capabilities do not drop ALL", c.Name)
		} else if len(sc.Capabilities.Add) > 0 {
			fail("container %s: adds capabilities %v", c.Name, sc.Capabilities.Add)
		}
	}
	// The effective user: a container's runAsUser overrides the pod's; the image's is
	// 65532, but runAsNonRoot alone would also refuse a root image.
	if psc != nil && psc.RunAsUser == nil {
		for _, c := range spec.Containers {
			if c.SecurityContext == nil || c.SecurityContext.RunAsUser == nil {
				fail("container %s: no runAsUser in the pod or the container: say 65532 (the image's user) so that it is checked here", c.Name)
			}
		}
	}
	return errs
}

// containerPort returns the number of the port called name, or 0.
func containerPort(c *corev1.Container, name string) int {
	for _, p := range c.Ports {
		if p.Name == name {
			return int(p.ContainerPort)
		}
	}
	return 0
}

// mountAt returns the name of the volume mounted at path in c, or "".
func mountAt(c *corev1.Container, path string) string {
	for _, vm := range c.VolumeMounts {
		if filepath.Clean(vm.MountPath) == filepath.Clean(path) {
			return vm.Name
		}
	}
	return ""
}

// claimOf returns the claim name of the pod's volume called name, or "".
func claimOf(spec *corev1.PodSpec, name string) string {
	for _, v := range spec.Volumes {
		if v.Name == name && v.PersistentVolumeClaim != nil {
			return v.PersistentVolumeClaim.ClaimName
		}
	}
	return ""
}

// subset reports whether every key of sel has the same value in labels.
func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// only returns the single value of a map of one entry (the first by key otherwise).
func only[T any](m map[string]T) T {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return m[keys[0]]
}
