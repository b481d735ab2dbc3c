package main

import (
	"context"
	"fmt"
	"io"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/livestore"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// loadTarget renders the environment at the repository flags into a sync
// target, with the connection flags applied.
func loadTarget(ctx context.Context, rf repoFlags, cf *clusterFlags) (*rmsync.Target, error) {
	src, err := openSource(ctx, rf)
	if err != nil {
		return nil, err
	}
	target, err := src.Target(ctx, rf.ref, rf.env)
	if err != nil {
		return nil, err
	}
	cf.resolve(&target.Desired.Cluster)
	return target, nil
}

// connectAndRead renders the target, connects to its cluster and reads
// the live state. On failure it has printed why (prefixed with the command
// name) and the drivers are closed; otherwise the caller closes them.
func connectAndRead(ctx context.Context, name string, rf repoFlags, cf *clusterFlags, stderr io.Writer) (*rmsync.Target, *livestore.Drivers, *rmsync.Live, bool) {
	target, err := loadTarget(ctx, rf, cf)
	if err != nil {
		printProblems(stderr, err)
		return nil, nil, nil, false
	}
	d, err := cf.connect(ctx, target.Desired.Cluster)
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster %s: %v\n", name, err)
		return nil, nil, nil, false
	}
	live, err := rmsync.ReadLive(ctx, d.Tree(), d.Schema(), target.Desired.Environment, target.Root())
	if err != nil {
		d.Close()
		fmt.Fprintf(stderr, "ringmaster %s: %v\n", name, err)
		return nil, nil, nil, false
	}
	return target, d, live, true
}

func skippedAnnotations(skipped map[string]string) map[string][]diff.Annotation {
	out := map[string][]diff.Annotation{}
	for id, why := range skipped {
		out[id] = []diff.Annotation{{Code: "RM-SKIP", Severity: diff.SeverityInfo, Message: why}}
	}
	return out
}

func mergeAnnotations(ms ...map[string][]diff.Annotation) map[string][]diff.Annotation {
	out := map[string][]diff.Annotation{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = append(out[k], v...)
		}
	}
	return out
}
