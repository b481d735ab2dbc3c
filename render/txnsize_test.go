package render

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"
)

// TestMaxTransactionBytes: cluster.zookeeper.maxTransactionBytes reaches
// the state when it lies between 64 KiB and 1 MiB less 64 KiB, and is a
// located error otherwise.
func TestMaxTransactionBytes(t *testing.T) {
	tests := []struct {
		value string // "" leaves the field out
		want  int
		err   string
	}{
		{value: "", want: 0},
		{value: "65536", want: 65536},
		{value: "262144", want: 262144},
		{value: "983040", want: 983040},
		{value: "65535", err: "maxTransactionBytes is 65535: want 65536 (64 KiB) to 983040"},
		{value: "983041", err: "maxTransactionBytes is 983041"},
		{value: "0", err: "maxTransactionBytes is 0"},
		{value: "256KiB", err: "maxTransactionBytes must be a whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			zk := "{servers: [zk1:2181]}"
			if tt.value != "" {
				zk = "{servers: [zk1:2181], maxTransactionBytes: " + tt.value + "}"
			}
			env := "apiVersion: ringmaster.io/v1\nkind: Environment\nmetadata: {name: dev}\nspec:\n  cluster:\n    datacenters: [dc1]\n    zookeeper: " + zk + "\n"
			repo, err := Load(context.Background(), fstest.MapFS{
				"ringmaster.yaml":                   {Data: []byte(repoFile)},
				"environments/dev/environment.yaml": {Data: []byte(env)},
			}, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := repo.Render(context.Background(), "dev")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), "environments/dev/environment.yaml:7:") || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want a located error with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := res.State.Cluster.MaxTransactionBytes; got != tt.want {
				t.Errorf("MaxTransactionBytes = %d, want %d", got, tt.want)
			}
		})
	}
}
