package itest

import (
	"fmt"
	"testing"
)

// RepositoryManifest is a test repository's ringmaster.yaml.
const RepositoryManifest = "apiVersion: ringmaster.io/v1\nkind: Repository\nmetadata: {name: it}\nspec: {}\n"

// EnvironmentManifest is environment env on the test cluster, rooted at
// root, with more of its spec (indented two spaces) after the cluster.
func EnvironmentManifest(t testing.TB, env, root, moreSpec string) string {
	t.Helper()
	c := Cluster(t)
	return fmt.Sprintf(`apiVersion: ringmaster.io/v1
kind: Environment
metadata: {name: %s}
spec:
  cluster:
    datacenters: [dc1, dc2]
    zookeeper:
      servers: [%s]
      root: %s
    cassandra:
      contactPoints: [%s]
      localDatacenter: dc1
%s`, env, c.Spec.ZooKeeperConnect(), root, c.Spec.CassandraContactPoints(), moreSpec)
}
