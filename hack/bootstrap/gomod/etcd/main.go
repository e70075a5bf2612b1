// Command etcd is the etcd server, built from the go.etcd.io/etcd/server/v3 module
// (which `go install` refuses: it has replace directives). hack/bootstrap/kube-binaries.sh
// writes go.mod next to a copy of this file.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
