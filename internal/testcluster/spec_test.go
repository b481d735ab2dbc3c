package testcluster

import (
	"strings"
	"testing"
)

func TestCheckModes(t *testing.T) {
	tests := []struct {
		name    string
		modes   map[string]string
		wantErr string
	}{
		{"one leader", map[string]string{"zk1": "follower", "zk2": "leader", "zk3": "follower"}, ""},
		{"no leader", map[string]string{"zk1": "follower", "zk2": "follower", "zk3": "follower"}, "0 leaders"},
		{"two leaders", map[string]string{"zk1": "leader", "zk2": "leader", "zk3": "follower"}, "2 leaders"},
		{"looking", map[string]string{"zk1": "leader", "zk2": "looking", "zk3": "follower"}, "zk2 is looking"},
		{"standalone", map[string]string{"zk1": "standalone"}, ""},
		{"single not standalone", map[string]string{"zk1": "leader"}, "want standalone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkModes(tt.modes)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("checkModes: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("checkModes = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestUpNormal(t *testing.T) {
	status := `Datacenter: dc1
===============
Status=Up/Down
|/ State=Normal/Leaving/Joining/Moving
--  Address    Load        Tokens  Owns (effective)  Host ID                               Rack
UN  127.0.0.1  104.33 KiB  16      100.0%            0e4a1c5e-4f0a-4a8d-9a3b-1c2d3e4f5a6b  rack1

Datacenter: dc2
===============
--  Address    Load        Tokens  Owns (effective)  Host ID                               Rack
DN  127.0.0.2  99.1 KiB    16      100.0%            1e4a1c5e-4f0a-4a8d-9a3b-1c2d3e4f5a6b  rack1
UJ  127.0.0.3  99.1 KiB    16      100.0%            2e4a1c5e-4f0a-4a8d-9a3b-1c2d3e4f5a6b  rack1
`
	got := UpNormal(status)
	if len(got) != 1 || got[0] != "127.0.0.1" {
		t.Fatalf("UpNormal = %v, want [127.0.0.1]", got)
	}
}

func TestFullSpec(t *testing.T) {
	s := Full()
	if got := s.ZooKeeperConnect(); got != "127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183" {
		t.Errorf("ZooKeeperConnect = %s", got)
	}
	if got := strings.Join(s.Datacenters(), ","); got != "dc1,dc2" {
		t.Errorf("Datacenters = %s", got)
	}
	if s.Cassandra[0].JMXPort == s.Cassandra[1].JMXPort {
		t.Error("Cassandra nodes share a JMX port")
	}
	if _, err := SpecByName("huge"); err == nil {
		t.Error("SpecByName accepted an unknown variant")
	}
}

func TestZooKeeperConfig(t *testing.T) {
	full := Full()
	cfg := zooKeeperConfig(full, full.ZooKeeper[1], "/data", nil)
	for _, want := range []string{
		"clientPort=2182\n", "clientPortAddress=127.0.0.1\n", "dataDir=/data\n",
		"server.1=127.0.0.1:2888:3888\n", "server.3=127.0.0.1:2890:3890\n",
		"4lw.commands.whitelist=mntr,srvr,ruok", "admin.enableServer=false\n",
		"snapSizeLimitInKb=65536\n",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("zoo.cfg lacks %q:\n%s", want, cfg)
		}
	}
	single := Single()
	if cfg := zooKeeperConfig(single, single.ZooKeeper[0], "/data", nil); strings.Contains(cfg, "server.") {
		t.Errorf("standalone zoo.cfg lists quorum servers:\n%s", cfg)
	}
}

func TestCassandraConfig(t *testing.T) {
	full := Full()
	cfg := cassandraConfig(full, full.Cassandra[1], "/d", nil)
	for _, want := range []string{
		"listen_address: 127.0.0.2\n", "rpc_address: 127.0.0.2\n", `seeds: "127.0.0.1:7000,127.0.0.2:7000"`,
		"endpoint_snitch: GossipingPropertyFileSnitch\n", "commitlog_sync_period: 10000ms\n",
		"partitioner: org.apache.cassandra.dht.Murmur3Partitioner\n", "  - /d/data\n",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("cassandra.yaml lacks %q:\n%s", want, cfg)
		}
	}
	if got := cassandraRackDC(full.Cassandra[1]); got != "dc=dc2\nrack=rack1\n" {
		t.Errorf("rackdc = %q", got)
	}
}
