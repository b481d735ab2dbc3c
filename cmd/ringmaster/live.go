package main

import (
	"context"
	"fmt"
	"io"
	"reflect"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/livestore"
	"github.com/ringmaster-io/ringmaster/internal/reposource"
	"github.com/ringmaster-io/ringmaster/internal/state"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// loadTarget renders the environment at the repository flags into a sync
// target, with the connection flags applied.
func loadTarget(ctx context.Context, rf repoFlags, cf *clusterFlags) (*rmsync.Target, error) {
	src, err := openSource(ctx, rf)
	if err != nil {
		return nil, err
	}
	return targetOf(ctx, src, rf, cf)
}

func targetOf(ctx context.Context, src *reposource.Source, rf repoFlags, cf *clusterFlags) (*rmsync.Target, error) {
	target, err := src.Target(ctx, rf.ref, rf.env)
	if err != nil {
		return nil, err
	}
	cf.resolve(&target.Desired.Cluster)
	return target, nil
}

// readAhead is the live read started from the cluster the environment's
// own manifests name, while the whole repository loads: the read waits on
// ZooKeeper's servers, the load on this process's CPU.
type readAhead struct {
	d    *livestore.Drivers
	live *rmsync.Live
	err  error
}

// connectAndRead renders the target, connects to its cluster and reads
// the live state, the last two started ahead of the render when the
// environment's own manifests name the cluster (and used only if the
// render confirms it). On failure it has printed why (prefixed with the
// command name) and the drivers are closed; otherwise the caller closes
// them.
func connectAndRead(ctx context.Context, name string, rf repoFlags, cf *clusterFlags, stderr io.Writer) (*rmsync.Target, *livestore.Drivers, *rmsync.Live, bool) {
	src, err := openSource(ctx, rf)
	if err != nil {
		printProblems(stderr, err)
		return nil, nil, nil, false
	}
	var ahead chan readAhead
	var guess state.Cluster
	actx, cancelAhead := context.WithCancel(ctx)
	defer cancelAhead()
	if cl, err := src.Cluster(ctx, rf.ref, rf.env); err == nil {
		cf.resolve(&cl)
		if state.CheckRoot(cl.ZooKeeperRoot) == nil {
			guess = cl
			ahead = make(chan readAhead, 1)
			go func() {
				var r readAhead
				if r.d, r.err = cf.connect(actx, cl); r.err == nil {
					if r.live, r.err = rmsync.ReadLive(actx, r.d.Tree(), r.d.Schema(), rf.env, cl.ZooKeeperRoot); r.err != nil {
						r.d.Close()
					}
				}
				ahead <- r
			}()
		}
	}
	target, err := targetOf(ctx, src, rf, cf)
	if ahead != nil {
		confirmed := err == nil && reflect.DeepEqual(guess, target.Desired.Cluster)
		if !confirmed {
			cancelAhead() // not needed: stop it now
		}
		r := <-ahead
		switch {
		case confirmed && r.err == nil:
			return target, r.d, r.live, true
		case confirmed && ctx.Err() == nil:
			// The cluster is the one the render names: its error is the
			// command's (connecting again would only wait again).
			fmt.Fprintf(stderr, "ringmaster %s: %v\n", name, r.err)
			return nil, nil, nil, false
		case r.err == nil:
			r.d.Close()
		}
	}
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
