package manifestcheck

import (
	"errors"
	"fmt"

	kindv1alpha4 "sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	sigsyaml "sigs.k8s.io/yaml"
)

// Kourier's NodePorts that scripts/kind-up.sh pins and kind-config.yaml must publish.
var KourierNodePorts = []int32{31080, 31443}

// CheckKindConfig strict-decodes a kind cluster config into kind's v1alpha4 types,
// applies kind's defaults and checks what the product relies on.
func CheckKindConfig(data []byte) (*kindv1alpha4.Cluster, error) {
	var c kindv1alpha4.Cluster
	if err := sigsyaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("kind-config.yaml: strict decode: %w", err)
	}
	if c.Kind != "Cluster" || c.APIVersion != "kind.x-k8s.io/v1alpha4" {
		return nil, fmt.Errorf("kind-config.yaml: kind %q apiVersion %q, want Cluster kind.x-k8s.io/v1alpha4", c.Kind, c.APIVersion)
	}
	kindv1alpha4.SetDefaultsCluster(&c)
	var errs []error
	published := map[int32]bool{}
	hostPorts := map[int32]bool{}
	controlPlanes := 0
	for i, n := range c.Nodes {
		switch n.Role {
		case kindv1alpha4.ControlPlaneRole:
			controlPlanes++
		case kindv1alpha4.WorkerRole:
		default:
			errs = append(errs, fmt.Errorf("node %d: unknown role %q", i, n.Role))
		}
		for _, m := range n.ExtraPortMappings {
			switch m.Protocol {
			case kindv1alpha4.PortMappingProtocolTCP, kindv1alpha4.PortMappingProtocolUDP, kindv1alpha4.PortMappingProtocolSCTP:
			default:
				errs = append(errs, fmt.Errorf("node %d: port mapping %d: protocol %q", i, m.ContainerPort, m.Protocol))
			}
			if m.ContainerPort <= 0 || m.ContainerPort > 65535 || m.HostPort < 0 || m.HostPort > 65535 {
				errs = append(errs, fmt.Errorf("node %d: port mapping %d -> %d out of range", i, m.ContainerPort, m.HostPort))
			}
			if m.HostPort > 0 && hostPorts[m.HostPort] {
				errs = append(errs, fmt.Errorf("node %d: host port %d mapped twice", i, m.HostPort))
			}
			hostPorts[m.HostPort] = true
			if n.Role == kindv1alpha4.ControlPlaneRole {
				published[m.ContainerPort] = true
			}
		}
	}
	if controlPlanes == 0 {
		errs = append(errs, errors.New("no control-plane node"))
	}
	for _, p := range KourierNodePorts {
		if !published[p] {
			errs = append(errs, fmt.Errorf("Kourier nodePort %d is not published by the control-plane node", p))
		}
	}
	// localhost:8000 is skaffold's port-forward of the gateway and 8080 Keycloak's: the
	// kind mappings must leave them free.
	for _, p := range []int32{8000, 8080} {
		if hostPorts[p] {
			errs = append(errs, fmt.Errorf("host port %d is reserved for skaffold's port-forwards", p))
		}
	}
	return &c, errors.Join(errs...)
}
