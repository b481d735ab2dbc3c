// Command checkout-app is an example application: it reads its feature
// flags through ringmaster's OpenFeature provider and its ingest settings
// through the config watcher, from the environment ringmaster applies to
// ZooKeeper. It evaluates checkout-v2 for a few users, then prints every
// change as an apply reaches it.
//
//	go run ./examples/checkout-app --zk 127.0.0.1:2181 --root /ringmaster/local
//
// With --changes N it exits after N configuration changes (the demo uses
// it); otherwise at SIGINT or SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	of "github.com/open-feature/go-sdk/openfeature"

	"github.com/ringmaster-io/ringmaster/client"
	rmof "github.com/ringmaster-io/ringmaster/client/openfeature"
)

var users = []struct{ key, email string }{
	{"user-1", "ada@acme.example"},
	{"user-2", "bob@elsewhere.example"},
	{"user-3", "cy@elsewhere.example"},
	{"user-4", "di@elsewhere.example"},
	{"user-5", "ed@elsewhere.example"},
}

func main() {
	zkServers := flag.String("zk", envOr("RINGMASTER_ZK_SERVERS", "127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183"), "ZooKeeper servers, comma-separated")
	root := flag.String("root", "/ringmaster/local", "the environment's ZooKeeper root")
	changes := flag.Int("changes", 0, "exit after this many configuration changes (0: run until a signal)")
	timeout := flag.Duration("timeout", 0, "give up after this long (0: never)")
	flag.Parse()
	if err := run(*zkServers, *root, *changes, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "checkout-app:", err)
		os.Exit(1)
	}
}

func run(servers, root string, changes int, timeout time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	// One session for the flags and the config entries.
	c, err := client.Open(ctx, client.Config{Servers: strings.Split(servers, ","), Root: root})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := of.SetProviderWithContextAndWait(ctx, rmof.NewWithClient(c)); err != nil {
		return err
	}
	defer of.Shutdown()
	flags := of.NewDefaultClient()
	fmt.Printf("generation %d (%s)\n", c.Snapshot().Generation, c.Snapshot().Revision)
	evaluate(ctx, flags)

	changed := make(chan of.EventDetails, 16)
	onChange := func(d of.EventDetails) { changed <- d }
	of.AddHandler(of.ProviderConfigChange, &onChange)
	onStale := func(d of.EventDetails) { fmt.Println("stale:", d.Message) }
	of.AddHandler(of.ProviderStale, &onStale)

	err = c.Watch(ctx, "ingest/pipeline", func(v json.RawMessage) {
		fmt.Printf("config ingest/pipeline: %s\n", v)
	})
	if err != nil {
		return err
	}
	for seen := 0; changes == 0 || seen < changes; seen++ {
		select {
		case d := <-changed:
			fmt.Printf("changed in %s: %s\n", d.Message, strings.Join(d.FlagChanges, ", "))
			evaluate(ctx, flags)
		case <-ctx.Done():
			if changes > 0 {
				return fmt.Errorf("saw %d of %d changes: %w", seen, changes, context.Cause(ctx))
			}
			return nil
		}
	}
	return nil
}

// evaluate prints checkout-v2 for each user, with the reason.
func evaluate(ctx context.Context, flags *of.Client) {
	for _, u := range users {
		d, err := flags.BooleanValueDetails(ctx, "checkout-v2", false, of.NewEvaluationContext(u.key, map[string]any{"email": u.email}))
		if err != nil {
			fmt.Printf("  checkout-v2 %-7s %-22s error: %v\n", u.key, u.email, err)
			continue
		}
		fmt.Printf("  checkout-v2 %-7s %-22s %-5v (%s, variant %s)\n", u.key, u.email, d.Value, d.Reason, d.Variant)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
