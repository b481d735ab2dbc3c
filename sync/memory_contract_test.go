package sync_test

import (
	"context"
	"testing"

	rmsync "github.com/ringmaster-io/ringmaster/sync"
	"github.com/ringmaster-io/ringmaster/sync/contract"
)

func memoryStore(t *testing.T) contract.Store {
	tree := rmsync.NewMemoryTree()
	locker := rmsync.NewMemoryLocker(tree)
	return contract.Store{Tree: tree, Locker: locker, Root: "/rm/contract",
		Release: func(_ context.Context, dir, id string) error { return locker.Release(dir, id) }}
}

func TestMemoryTreeContract(t *testing.T)   { contract.Tree(t, memoryStore) }
func TestMemoryLockerContract(t *testing.T) { contract.Locker(t, memoryStore) }
func TestMemorySchemaContract(t *testing.T) {
	contract.Schema(t, func(*testing.T) contract.SchemaStore {
		return contract.SchemaStore{Schema: rmsync.NewMemorySchema(nil), Keyspace: "contract"}
	})
}
