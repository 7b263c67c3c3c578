package deploy

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Helpers with which TestChecksCatchDisagreements breaks the decoded manifests.

func sts(m *manifests) *appsv1.StatefulSet { return only(m.statefulSets) }

func worker(m *manifests) *corev1.Container { return &sts(m).Spec.Template.Spec.Containers[0] }

func job(m *manifests) *corev1.Container { return &only(m.jobs).Spec.Template.Spec.Containers[0] }

// setArg replaces the value of --name in c's args (written "--name value"), or appends it.
func setArg(c *corev1.Container, name, value string) {
	for i := 0; i+1 < len(c.Args); i++ {
		if c.Args[i] == name {
			c.Args[i+1] = value
			return
		}
	}
	c.Args = append(c.Args, name, value)
}

// setEnv replaces or adds the variable name of c.
func setEnv(c *corev1.Container, name, value string) {
	for i := range c.Env {
		if c.Env[i].Name == name {
			c.Env[i].Value = value
			return
		}
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
}

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }
