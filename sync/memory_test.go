package sync

// The tests of this package use the in-memory roles under short names.
type (
	memTree   = MemoryTree
	memLocker = MemoryLocker
	memSchema = MemorySchema
)

func newMemTree() *memTree                  { return NewMemoryTree() }
func newMemLocker(tree *memTree) *memLocker { return NewMemoryLocker(tree) }
