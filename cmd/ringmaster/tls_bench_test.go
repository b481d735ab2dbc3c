package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ringmaster-io/ringmaster/internal/itest"
)

// BenchmarkApplyTLS10k is the price of TLS: the whole `apply` command
// updating 10,000 znodes (Command10k's workload) on the secure cluster's
// ZooKeeper over its TLS port, against the same command on its plain port,
// in the same run. Both sides are one repository with two environments,
// tls and plain, that differ only in the ZooKeeper address and root; both
// log in as the same digest user (the ensemble enforces authentication on
// both ports) and to the same Cassandra node the same way (TLS and a
// password: apply always connects to Cassandra, though no keyspace is
// declared), so what differs is the ZooKeeper transport alone. Each round
// runs both commands, the order alternating, so that the machine's noise
// and anything the first run leaves to the second fall on both alike.
func BenchmarkApplyTLS10k(b *testing.B) {
	const n = 10000
	s := itest.SecureCluster(b)
	repo := b.TempDir()
	secret := func(name, content string) string {
		p := filepath.Join(b.TempDir(), name)
		if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
			b.Fatal(err)
		}
		return p
	}
	pw := make([]byte, 8)
	if _, err := rand.Read(pw); err != nil {
		b.Fatal(err)
	}
	// No ACL policy: the znodes get the default ACL (world:anyone),
	// but every session still has to log in.
	zkAuth := secret("zk-auth", "ringmaster:"+hex.EncodeToString(pw))
	cassPassword := secret("cassandra-password", s.CassandraSuperPassword)
	env := func(name, server string) string {
		return fmt.Sprintf(`apiVersion: ringmaster.io/v1
kind: Environment
metadata: {name: %s}
spec:
  cluster:
    datacenters: [%s]
    zookeeper:
      servers: [%s]
      root: %s
    cassandra:
      contactPoints: [%s]
      localDatacenter: %s
  prune: true
`, name, s.Datacenter, server, path.Join(s.Root, name), s.Cassandra, s.Datacenter)
	}
	files := map[string]string{
		"ringmaster.yaml":                     itest.RepositoryManifest,
		"environments/tls/environment.yaml":   env("tls", s.ZooKeeperTLS),
		"environments/plain/environment.yaml": env("plain", s.ZooKeeperPlain),
	}
	for rel, content := range files {
		p := filepath.Join(repo, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	side := func(name string, zkTLS ...string) *benchWorkload {
		args := []string{"--repo", repo, "--env", name,
			"--zk-auth-file", zkAuth,
			"--cassandra-username", "cassandra", "--cassandra-password-file", cassPassword, "--cassandra-tls-ca", s.CA}
		return &benchWorkload{n: n, repo: repo, entries: filepath.Join(repo, "base", "bulk"), rmArgs: append(args, zkTLS...)}
	}
	overTLS := side("tls", "--zk-tls-ca", s.CA, "--zk-tls-cert", s.ClientCert, "--zk-tls-key", s.ClientKey)
	plain := side("plain")
	binary(b) // built before anything is timed

	metrics := map[string][]time.Duration{}
	add := func(name string, d time.Duration) { metrics[name] = append(metrics[name], d) }
	var ratios []float64
	// both runs one apply per side, the TLS one first in even rounds and
	// the plain one first in odd rounds.
	both := func(round int, want string) (dTLS, dPlain time.Duration) {
		if round%2 == 0 {
			dTLS = overTLS.ringmaster(b, want, exitOK, "apply", "--auto-approve")
			dPlain = plain.ringmaster(b, want, exitOK, "apply", "--auto-approve")
		} else {
			dPlain = plain.ringmaster(b, want, exitOK, "apply", "--auto-approve")
			dTLS = overTLS.ringmaster(b, want, exitOK, "apply", "--auto-approve")
		}
		return dTLS, dPlain
	}

	overTLS.write(b, "v0") // one tree of files, which both environments render
	dTLS, dPlain := both(0, fmt.Sprintf("Plan: %d to create, 0 to update, 0 to delete", n))
	add("tls-create-s", dTLS)
	add("plain-create-s", dPlain)

	round := 0
	for b.Loop() {
		round++
		b.StopTimer()
		overTLS.write(b, fmt.Sprintf("v%d", round))
		b.StartTimer()
		dTLS, dPlain := both(round, fmt.Sprintf("Plan: 0 to create, %d to update, 0 to delete", n))
		add("tls-update-s", dTLS)
		add("plain-update-s", dPlain)
		ratios = append(ratios, dTLS.Seconds()/dPlain.Seconds())
		dTLS, dPlain = both(round, "No changes")
		add("tls-nochange-s", dTLS)
		add("plain-nochange-s", dPlain)
	}
	b.StopTimer()

	for name, ds := range metrics {
		b.ReportMetric(median(ds).Seconds(), name)
	}
	// The median of the rounds' own ratios, beside the ratio of the
	// medians that internal/benchreport checks.
	if len(ratios) > 0 {
		slices.Sort(ratios)
		b.ReportMetric(ratios[len(ratios)/2], "tls/plain-update-x")
	}
	b.ReportMetric(max(overTLS.peakMB, plain.peakMB), "peak-RSS-MB")
}
