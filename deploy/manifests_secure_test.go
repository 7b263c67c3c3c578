package deploy

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// secureDir holds the secured StatefulSet and Job, which replace those of k8s/.
const secureDir = "k8s/secure"

// loadSecureManifests returns the plaintext manifests of k8s/ and the secured set: the
// same, with each object of k8s/secure/ in place of the one of its kind and name. An
// object there that replaces nothing is an error (it would be applied beside the others).
func loadSecureManifests() (plain, secure *manifests, err error) {
	if plain, err = loadManifests("k8s"); err != nil {
		return nil, nil, err
	}
	if secure, err = loadManifests("k8s"); err != nil { // a second copy, to overlay
		return nil, nil, err
	}
	over, err := loadManifests(secureDir)
	if err != nil {
		return nil, nil, err
	}
	errs := []error{
		overlay(secure.services, over.services, "Service"),
		overlay(secure.statefulSets, over.statefulSets, "StatefulSet"),
		overlay(secure.jobs, over.jobs, "Job"),
		overlay(secure.claims, over.claims, "PersistentVolumeClaim"),
	}
	for _, err := range errs {
		if err != nil {
			return nil, nil, err
		}
	}
	return plain, secure, nil
}

func overlay[T any](dst, over map[string]T, kind string) error {
	for name, obj := range over {
		if _, ok := dst[name]; !ok {
			return fmt.Errorf("%s/: %s %s replaces no object of k8s/", secureDir, kind, name)
		}
		dst[name] = obj
	}
	return nil
}

func mustLoadSecureManifests(t *testing.T) (plain, secure *manifests) {
	t.Helper()
	plain, secure, err := loadSecureManifests()
	if err != nil {
		t.Fatal(err)
	}
	return plain, secure
}

// checkSecureManifests returns every way in which the secured StatefulSet and Job fall
// short: both present the certificate and the token from one Secret, mounted read-only
// and readable by the pod's group alone, expect the name of the headless Service in the
// workers' certificate, and are otherwise the plaintext objects of k8s/.
func checkSecureManifests(plain, secure *manifests) []error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(secure.statefulSets) != 1 || len(secure.jobs) != 1 || len(plain.statefulSets) != 1 || len(plain.jobs) != 1 {
		fail("want one StatefulSet and one Job in each set")
		return errs
	}
	ss, jb := only(secure.statefulSets), only(secure.jobs)
	secrets := map[string]string{}
	for _, p := range []struct {
		owner string
		spec  *corev1.PodSpec
	}{{"StatefulSet " + ss.Name, &ss.Spec.Template.Spec}, {"Job " + jb.Name, &jb.Spec.Template.Spec}} {
		if len(p.spec.Containers) != 1 {
			fail("%s: %d containers; want 1", p.owner, len(p.spec.Containers))
			continue
		}
		c := &p.spec.Containers[0]
		dir := secretsDir(c.Args)
		if dir == "" {
			fail("%s: --tls-cert, --tls-key, --tls-ca and --token-file are missing or do not name files in one folder", p.owner)
			continue
		}
		for _, err := range checkSecuredArgs(c.Args, dir, ss.Spec.ServiceName) {
			fail("%s: %v", p.owner, err)
		}
		secret := checkSecretMount(p.owner, p.spec, c, dir, fail)
		secrets[p.owner] = secret
	}
	if a, b := secrets["StatefulSet "+ss.Name], secrets["Job "+jb.Name]; a != b {
		fail("the workers read the Secret %q, the Job %q; want one set of certificates", a, b)
	}

	// Apart from security, the objects are those of k8s/.
	if d := jsonDiff(withoutSecurityObject(only(plain.statefulSets)), withoutSecurityObject(ss)); d != "" {
		fail("StatefulSet %s of %s/ differs from k8s/worker-statefulset.yaml's beyond the security settings: %s", ss.Name, secureDir, d)
	}
	if d := jsonDiff(withoutSecurityObject(only(plain.jobs)), withoutSecurityObject(jb)); d != "" {
		fail("Job %s of %s/ differs from k8s/train-job.yaml's beyond the security settings: %s", jb.Name, secureDir, d)
	}
	return errs
}

// checkSecretMount checks that the volume mounted at dir in c is a Secret, read-only,
// whose files are the ones the flags name and are readable by the pod's fsGroup and
// nobody else, and returns the Secret's name.
func checkSecretMount(owner string, spec *corev1.PodSpec, c *corev1.Container, dir string, fail func(string, ...any)) string {
	var vm *corev1.VolumeMount
	for i := range c.VolumeMounts {
		if path.Clean(c.VolumeMounts[i].MountPath) == dir {
			vm = &c.VolumeMounts[i]
		}
	}
	if vm == nil {
		fail("%s: nothing is mounted at %s, where the flags find the certificates", owner, dir)
		return ""
	}
	if !vm.ReadOnly {
		fail("%s: volume %s at %s is not mounted read-only", owner, vm.Name, dir)
	}
	if vm.SubPath != "" || vm.SubPathExpr != "" {
		fail("%s: volume %s is mounted with a subPath, which the kubelet does not update when the Secret changes", owner, vm.Name)
	}
	var sv *corev1.SecretVolumeSource
	for _, v := range spec.Volumes {
		if v.Name == vm.Name {
			sv = v.Secret
		}
	}
	if sv == nil {
		fail("%s: volume %s at %s is not a Secret volume", owner, vm.Name, dir)
		return ""
	}
	if sv.Optional != nil && *sv.Optional {
		fail("%s: Secret %s is optional: without it the pod would start and fail on the missing files", owner, sv.SecretName)
	}
	// With items, each key the flags need must land at its file name; without, the
	// Secret's keys are the file names (kubectl create secret --from-file of hess certs' folder).
	for _, it := range sv.Items {
		if want, ok := slices.Collect(mapValues(securityFiles)), true; ok && slices.Contains(want, it.Key) && it.Path != it.Key {
			fail("%s: Secret %s: key %s is mounted as %s; the flags want it as %s", owner, sv.SecretName, it.Key, it.Path, it.Key)
		}
	}
	if len(sv.Items) > 0 {
		for _, f := range securityFiles {
			if !slices.ContainsFunc(sv.Items, func(it corev1.KeyToPath) bool { return it.Key == f }) {
				fail("%s: Secret %s: items do not include %s", owner, sv.SecretName, f)
			}
		}
	}
	// The kubelet writes the files as root, with the pod's fsGroup as their group when
	// there is one: the non-root user reads them through that group.
	if sv.DefaultMode == nil {
		fail("%s: Secret %s: no defaultMode; the default 0644 lets any user of the container read the key", owner, sv.SecretName)
	} else if m := *sv.DefaultMode; m&0o007 != 0 || m&0o040 == 0 {
		fail("%s: Secret %s: defaultMode %#o; want the group to read and others nothing (0440)", owner, sv.SecretName, m)
	}
	psc := spec.SecurityContext
	if psc == nil || psc.FSGroup == nil {
		fail("%s: no fsGroup: the Secret's files would be root's, unreadable by the non-root user", owner)
	} else if psc.RunAsGroup != nil && *psc.FSGroup != *psc.RunAsGroup {
		fail("%s: fsGroup %d is not the user's group %d", owner, *psc.FSGroup, *psc.RunAsGroup)
	}
	return sv.SecretName
}

func mapValues[K comparable, V any](m map[K]V) func(func(V) bool) {
	return func(yield func(V) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// withoutSecurityObject returns a copy of a StatefulSet or Job without what security
// adds: the security flags, the Secret volumes and their mounts, the health port, the
// probes' port numbers and the pod's fsGroup.
func withoutSecurityObject(obj any) any {
	var spec *corev1.PodSpec
	switch o := obj.(type) {
	case *appsv1.StatefulSet:
		c := o.DeepCopy()
		spec, obj = &c.Spec.Template.Spec, c
	case *batchv1.Job:
		c := o.DeepCopy()
		spec, obj = &c.Spec.Template.Spec, c
	default:
		panic(fmt.Sprintf("deploy: withoutSecurityObject(%T)", obj))
	}
	secretVols := map[string]bool{}
	spec.Volumes = slices.DeleteFunc(spec.Volumes, func(v corev1.Volume) bool {
		secretVols[v.Name] = v.Secret != nil
		return v.Secret != nil
	})
	for i := range spec.Containers {
		c := &spec.Containers[i]
		c.Args = withoutSecurity(c.Args)
		c.VolumeMounts = slices.DeleteFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return secretVols[vm.Name] })
		c.Ports = slices.DeleteFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "health" })
		for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
			if p != nil && p.GRPC != nil {
				p.GRPC.Port = 0
			}
		}
	}
	if spec.SecurityContext != nil {
		spec.SecurityContext.FSGroup = nil
	}
	return obj
}

// jsonDiff returns "" when a and b encode to the same JSON, else the first line that
// differs in their indented encodings.
func jsonDiff(a, b any) string {
	ja, err1 := json.MarshalIndent(a, "", " ")
	jb, err2 := json.MarshalIndent(b, "", " ")
	if err1 != nil || err2 != nil {
		return fmt.Sprintf("cannot encode: %v, %v", err1, err2)
	}
	la, lb := strings.Split(string(ja), "\n"), strings.Split(string(jb), "\n")
	for i := range max(len(la), len(lb)) {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			return fmt.Sprintf("line %d: %q (plaintext) vs %q (secured)", i+1, strings.TrimSpace(x), strings.TrimSpace(y))
		}
	}
	return ""
}

func TestSecureManifestsAgree(t *testing.T) {
	plain, secure := mustLoadSecureManifests(t)
	// The secured set obeys every rule of the plaintext one (sizing included) ...
	for _, err := range checkManifests(secure) {
		t.Errorf("secured: %v", err)
	}
	// ... and those of security.
	for _, err := range checkSecureManifests(plain, secure) {
		t.Error(err)
	}
}

// removeArg removes --name and its value from c's args.
func removeArg(c *corev1.Container, name string) {
	for i := 0; i+1 < len(c.Args); i++ {
		if c.Args[i] == name {
			c.Args = slices.Delete(c.Args, i, i+2)
			return
		}
	}
}

// secretVolume returns the Secret volume of the pod template of c's owner.
func secretVolume(spec *corev1.PodSpec) *corev1.Volume {
	for i := range spec.Volumes {
		if spec.Volumes[i].Secret != nil {
			return &spec.Volumes[i]
		}
	}
	return nil
}

func wspec(m *manifests) *corev1.PodSpec { return &sts(m).Spec.Template.Spec }
func jspec(m *manifests) *corev1.PodSpec { return &only(m.jobs).Spec.Template.Spec }

// TestSecureChecksCatchMistakes breaks one thing at a time in the secured manifests and
// checks that checkManifests or checkSecureManifests reports it.
func TestSecureChecksCatchMistakes(t *testing.T) {
	mode := func(m int32) *int32 { return &m }
	for _, tc := range []struct {
		name    string
		mutate  func(m *manifests)
		wantErr string
	}{
		{"job without the token", func(m *manifests) { removeArg(job(m), "--token-file") }, "Job hess-train: no --token-file"},
		{"worker without the key", func(m *manifests) { removeArg(worker(m), "--tls-key") }, "StatefulSet hess-worker: no --tls-key"},
		{"worker expects another name", func(m *manifests) { setArg(worker(m), "--tls-server-name", "worker") }, "--tls-server-name worker; want hess-worker"},
		{"job without a server name", func(m *manifests) { removeArg(job(m), "--tls-server-name") }, "no --tls-server-name"},
		{"CA in another folder", func(m *manifests) { setArg(job(m), "--tls-ca", "/etc/ca.pem") }, "do not name files in one folder"},
		{"wrong file name", func(m *manifests) { setArg(worker(m), "--tls-cert", "/secrets/cert.pem") }, "--tls-cert /secrets/cert.pem; want /secrets/tls.pem"},
		{"writable mount", func(m *manifests) { job(m).VolumeMounts[len(job(m).VolumeMounts)-1].ReadOnly = false }, "not mounted read-only"},
		{"not a Secret", func(m *manifests) {
			v := secretVolume(wspec(m))
			v.Secret, v.EmptyDir = nil, &corev1.EmptyDirVolumeSource{}
		}, "not a Secret volume"},
		{"two Secrets", func(m *manifests) { secretVolume(jspec(m)).Secret.SecretName = "other-tls" }, "want one set of certificates"},
		{"key readable by others", func(m *manifests) { secretVolume(wspec(m)).Secret.DefaultMode = mode(0o644) }, "defaultMode 0644"},
		{"no mode", func(m *manifests) { secretVolume(jspec(m)).Secret.DefaultMode = nil }, "no defaultMode"},
		{"optional Secret", func(m *manifests) { tr := true; secretVolume(wspec(m)).Secret.Optional = &tr }, "optional"},
		{"items under other names", func(m *manifests) {
			secretVolume(wspec(m)).Secret.Items = []corev1.KeyToPath{{Key: "tls.pem", Path: "cert.pem"}}
		}, "key tls.pem is mounted as cert.pem"},
		{"no fsGroup", func(m *manifests) { wspec(m).SecurityContext.FSGroup = nil }, "no fsGroup"},
		{"probes on the TLS port", func(m *manifests) {
			worker(m).ReadinessProbe.GRPC.Port = 7070
		}, "readinessProbe: gRPC port 7070; want the worker's health port 7071"},
		{"no plaintext health port", func(m *manifests) { removeArg(worker(m), "--health-listen") }, "without --health-listen"},
		{"health port on loopback", func(m *manifests) { setArg(worker(m), "--health-listen", "127.0.0.1:7071") }, "want all interfaces (:7071)"},
		{"health port not declared", func(m *manifests) {
			w := worker(m)
			w.Ports = slices.DeleteFunc(w.Ports, func(p corev1.ContainerPort) bool { return p.Name == "health" })
		}, "no port named health"},
		{"sizing still applies", func(m *manifests) {
			worker(m).Resources.Requests[corev1.ResourceMemory] = mustQuantity("200Mi")
		}, "memory request"},
		{"drift from the plaintext workers", func(m *manifests) {
			worker(m).Resources.Limits[corev1.ResourceMemory] = mustQuantity("600Mi")
		}, "differs from k8s/worker-statefulset.yaml's"},
		{"drift from the plaintext job", func(m *manifests) { setArg(job(m), "--startup-timeout", "1m") }, "differs from k8s/train-job.yaml's"},
		{"root", func(m *manifests) { root := int64(0); wspec(m).SecurityContext.RunAsUser = &root }, "runAsUser 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain, secure := mustLoadSecureManifests(t)
			tc.mutate(secure)
			errs := append(checkManifests(secure), checkSecureManifests(plain, secure)...)
			for _, err := range errs {
				if strings.Contains(err.Error(), tc.wantErr) {
					return
				}
			}
			t.Errorf("checks after %q = %v; want an error containing %q", tc.name, errs, tc.wantErr)
		})
	}
}
