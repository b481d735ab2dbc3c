package itest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

// Cassandra opens a session with the test cluster, preferring the given
// datacenter's nodes ("dc1" when empty), and closes it when the test ends.
// It claims the cluster as Cluster does.
func Cassandra(t testing.TB, localDC string) *gocql.Session {
	t.Helper()
	c := Cluster(t)
	if localDC == "" {
		localDC = "dc1"
	}
	cfg := gocql.NewCluster(strings.Split(c.Spec.CassandraContactPoints(), ",")...)
	cfg.Port = c.Spec.Cassandra[0].NativePort
	cfg.Consistency = gocql.LocalQuorum
	cfg.Timeout = 20 * time.Second
	cfg.ConnectTimeout = 10 * time.Second
	cfg.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.DCAwareRoundRobinPolicy(localDC))
	logger := &testLogger{t: t}
	cfg.Logger = logger
	session, err := cfg.CreateSession()
	if err != nil {
		t.Fatalf("connect to Cassandra %s: %v", c.Spec.CassandraContactPoints(), err)
	}
	t.Cleanup(func() {
		session.Close()
		logger.stop()
	})
	return session
}

// Keyspace returns a keyspace name unique to this test (at most 48
// characters, as Cassandra allows) and drops that keyspace, if the test
// created it, when the test ends.
func Keyspace(t testing.TB, session *gocql.Session) string {
	t.Helper()
	name := "it_" + uniqueName(t, 45)
	t.Cleanup(func() {
		if err := session.Query(fmt.Sprintf("DROP KEYSPACE IF EXISTS %s", name)).Exec(); err != nil {
			t.Errorf("drop test keyspace %s: %v", name, err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := session.AwaitSchemaAgreement(ctx); err != nil {
			t.Errorf("schema agreement after dropping %s: %v", name, err)
		}
	})
	return name
}
