// Package sync plans and applies change sets to the live cluster: it takes
// the ZooKeeper lock, refuses stale plans, applies ZooKeeper writes in fenced
// Multi transactions and Cassandra DDL with schema agreement, verifies, and
// records status. It declares the small interfaces it needs (source, stores,
// locker); drivers are wired in cmd/ringmaster.
//
// The package name shadows the standard library's sync: files here that need
// both import the standard one as gosync "sync".
package sync
