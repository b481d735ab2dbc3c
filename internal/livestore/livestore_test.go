package livestore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-io/ringmaster/internal/itest"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
	"github.com/ringmaster-io/ringmaster/sync/contract"
	"go.uber.org/goleak"
)

// The contract tests of sync's roles, on the real ZooKeeper ensemble and
// Cassandra cluster: the same cases the in-memory roles pass.

func connect(t *testing.T, cl state.Cluster, withCassandra bool) *Drivers {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := Config{Cluster: cl}
	var d *Drivers
	var err error
	if withCassandra {
		d, err = Connect(ctx, cfg)
	} else {
		d, err = ConnectZK(ctx, cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

func zkStore(t *testing.T) contract.Store {
	z := itest.ZooKeeper(t)
	root := z.Path("contract")
	d := connect(t, state.Cluster{ZooKeeperServers: z.Servers, ZooKeeperRoot: root}, false)
	other := connect(t, state.Cluster{ZooKeeperServers: z.Servers, ZooKeeperRoot: root}, false)
	return contract.Store{Tree: d.Tree(), Locker: d.Locker(zk.HolderInfo{User: "contract"}), Root: root,
		Release: func(ctx context.Context, dir, id string) error { return other.ZK.ReleaseLock(ctx, dir, id) }}
}

func TestTreeContract(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	contract.Tree(t, zkStore)
}

func TestLockerContract(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	contract.Locker(t, zkStore)
}

func TestSchemaContract(t *testing.T) {
	c := itest.Cluster(t)
	session := itest.Cassandra(t, "dc1")
	contract.Schema(t, func(t *testing.T) contract.SchemaStore {
		z := itest.ZooKeeper(t)
		d := connect(t, state.Cluster{ZooKeeperServers: z.Servers, ZooKeeperRoot: z.Path("env"),
			CassandraContactPoints: strings.Split(c.Spec.CassandraContactPoints(), ","), LocalDatacenter: "dc1"}, true)
		return contract.SchemaStore{Schema: d.Schema(), Keyspace: itest.Keyspace(t, session)}
	})
}
