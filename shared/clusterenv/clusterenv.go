// Package clusterenv reads, from the repository's manifests, the environment a
// function's container gets in the cluster, so that tools running the functions as
// local processes (the cluster rehearsal, the benchmarks) run them as deployed.
package clusterenv

import (
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// ServiceEnv returns the literal env values of the function's Knative Service
// (knative/services/<service>.yaml under root): FUNCTION_TARGET, DB_MAX_CONNS,
// GOMEMLIMIT, ... Values taken from Secrets (DATABASE_URL) are not literal and not
// returned.
func ServiceEnv(root, service string) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(root, "knative", "services", service+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("function %s has no Knative Service: %w", service, err)
	}
	var svc struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Env []struct {
							Name  string `json:"name"`
							Value string `json:"value"`
						} `json:"env"`
					} `json:"containers"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &svc); err != nil {
		return nil, fmt.Errorf("parse the Knative Service %s: %w", service, err)
	}
	env := map[string]string{}
	for _, c := range svc.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			if e.Value != "" {
				env[e.Name] = e.Value
			}
		}
	}
	return env, nil
}

// ContainerEnv is what the container sees: the sqal-config ConfigMap
// (k8s/base/config.yaml, envFrom) overlaid by ServiceEnv.
func ContainerEnv(root, service string) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(root, "k8s", "base", "config.yaml"))
	if err != nil {
		return nil, fmt.Errorf("read the sqal-config ConfigMap: %w", err)
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(b, &cm); err != nil {
		return nil, fmt.Errorf("parse the sqal-config ConfigMap: %w", err)
	}
	svc, err := ServiceEnv(root, service)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for k, v := range cm.Data {
		env[k] = v
	}
	for k, v := range svc {
		env[k] = v
	}
	return env, nil
}
