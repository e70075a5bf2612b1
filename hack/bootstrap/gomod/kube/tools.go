//go:build tools

// Package kubebuild pins the Kubernetes commands that hack/bootstrap/kube-binaries.sh
// builds from the k8s.io/kubernetes module (which `go install` refuses: it has
// replace directives). kube-binaries.sh writes go.mod next to a copy of this file.
package kubebuild

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubeadm"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
