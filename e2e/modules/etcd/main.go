// etcd for the one-node cluster, built from its module: Debian's etcd 3.4.23 cannot answer the progress
// requests (RequestWatchProgress) the kube-apiserver needs to serve watch-list streams, so every client-go
// 0.33 informer (Argo's controller) had its watch end with an error and fell back to relisting.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
