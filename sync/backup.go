package sync

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// BackupKind names the backup format and its version.
const BackupKind = "ringmaster.io/backup/v1"

// Backup is what `ringmaster backup` captures of an environment: its
// managed znodes (data/ and meta/, with their ACLs) and its managed
// keyspaces' schema, in render's canonical form and as CQL, with the
// generation and revision live when it was taken. Table data is not in
// it (that is Cassandra's own backups' job).
type Backup struct {
	Kind        string     `json:"kind"`
	Environment string     `json:"environment"`
	Root        string     `json:"root"`
	TakenAt     time.Time  `json:"takenAt"`
	Generation  Generation `json:"generation"`
	// Znodes are keyed by their path relative to the root, sorted.
	Znodes    []BackupZnode              `json:"znodes"`
	Keyspaces map[string]*state.Keyspace `json:"keyspaces"`
	// CQL creates the keyspaces, for people and for cqlsh.
	CQL string `json:"cql"`
}

// BackupZnode is one znode with its ACL.
type BackupZnode struct {
	Path string `json:"path"`
	Data []byte `json:"data"`
	ACL  []ACL  `json:"acl,omitempty"`
}

// ACL is one ZooKeeper ACL entry.
type ACL struct {
	Perms  int32  `json:"perms"`
	Scheme string `json:"scheme"`
	ID     string `json:"id"`
}

// WriteBackup writes b gzip-compressed.
func WriteBackup(w io.Writer, b *Backup) error {
	sort.Slice(b.Znodes, func(i, j int) bool { return b.Znodes[i].Path < b.Znodes[j].Path })
	zw := gzip.NewWriter(w)
	enc := json.NewEncoder(zw)
	enc.SetIndent("", " ")
	if err := enc.Encode(b); err != nil {
		return fmt.Errorf("write backup: %w", err)
	}
	return zw.Close()
}

// ReadBackup reads a backup WriteBackup wrote, refusing another format or
// version, and znode paths that are not below the root.
func ReadBackup(r io.Reader) (*Backup, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("read backup: not a ringmaster backup (%w)", err)
	}
	var b Backup
	if err := json.NewDecoder(zr).Decode(&b); err != nil {
		return nil, fmt.Errorf("read backup: %w", err)
	}
	if b.Kind != BackupKind {
		return nil, fmt.Errorf("read backup: kind %q, want %q", b.Kind, BackupKind)
	}
	for _, z := range b.Znodes {
		if !state.Within(state.DataDir, z.Path) && !state.Within(state.MetaDir, z.Path) {
			return nil, fmt.Errorf("read backup: znode %q is not below data/ or meta/", z.Path)
		}
	}
	return &b, nil
}

// Target is what restoring b makes live: its data znodes and keyspaces
// (meta/ is written by the apply that restores, from them), for the
// environment's cluster cl.
func (b *Backup) Target(cl state.Cluster) *Target {
	st := state.New(b.Environment)
	st.Cluster = cl
	for _, z := range b.Znodes {
		if !state.Within(state.DataDir, z.Path) || len(z.Data) == 0 {
			continue // folders are structure
		}
		st.Znodes[z.Path] = &state.Znode{Path: z.Path, Data: z.Data, Kind: state.ZnodeKind(z.Path), Version: -1,
			Origin: state.Origin{File: "backup"}}
	}
	for name, ks := range b.Keyspaces {
		st.Keyspaces[name] = ks
	}
	return &Target{Desired: st, Revision: fmt.Sprintf("backup of %s taken %s", orUnknown(b.Generation.Revision), b.TakenAt.UTC().Format(time.RFC3339))}
}

// ACLs are the backup's znode ACLs by absolute path under root.
func (b *Backup) ACLs(root string) map[string][]ACL {
	out := map[string][]ACL{}
	for _, z := range b.Znodes {
		if len(z.ACL) > 0 && !strings.HasPrefix(z.Path, state.MetaDir+"/") {
			out[path.Join(root, z.Path)] = z.ACL
		}
	}
	return out
}
