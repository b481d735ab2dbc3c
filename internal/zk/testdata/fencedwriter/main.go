// Command fencedwriter is a test helper of package zk: it takes a lock,
// says "locked <id>" on stdout, waits for a line on stdin, then tries one
// fenced write under the lock and prints the outcome:
//
//	write ok <batches> <applied>
//	write failed: <error> [fenced] [in-doubt] [expired] [outcome-unknown]
//
// The test stops it (SIGSTOP) between the two steps until ZooKeeper has
// expired its session and another client holds the lock, and checks that
// the late write lands nowhere.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	gozk "github.com/go-zookeeper/zk"
	"github.com/ringmaster-io/ringmaster/internal/zk"
)

func main() {
	servers := flag.String("servers", "127.0.0.1:2181", "comma-separated ZooKeeper servers")
	dir := flag.String("dir", "", "lock directory")
	target := flag.String("target", "", "znode the write creates")
	timeout := flag.Duration("session-timeout", 4*time.Second, "session timeout")
	flag.Parse()
	if err := run(strings.Split(*servers, ","), *dir, *target, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "fencedwriter:", err)
		os.Exit(1)
	}
}

func run(servers []string, dir, target string, timeout time.Duration) error {
	ctx := context.Background()
	c, err := zk.Connect(ctx, zk.Config{Servers: servers, SessionTimeout: timeout})
	if err != nil {
		return err
	}
	defer c.Close()
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	l, err := c.Lock(lctx, dir, zk.ThisProcess())
	if err != nil {
		return err
	}
	fmt.Println("locked", l.ID())
	if !bufio.NewScanner(os.Stdin).Scan() {
		return errors.New("stdin closed before the go-ahead")
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	res, err := c.Write(wctx, l.Fence(), []zk.Op{{Kind: zk.OpCreate, Path: target, Data: []byte("late write")}}, nil)
	if err == nil {
		fmt.Println("write ok", res.Batches, res.Applied)
		return nil
	}
	var tags []string
	for _, k := range []struct {
		tag string
		err error
	}{{"fenced", zk.ErrFenced}, {"in-doubt", zk.ErrSessionInDoubt}, {"expired", gozk.ErrSessionExpired}, {"outcome-unknown", zk.ErrOutcomeUnknown}} {
		if errors.Is(err, k.err) {
			tags = append(tags, k.tag)
		}
	}
	fmt.Printf("write failed: %v [%s] (applied %d, state %s)\n", err, strings.Join(tags, " "), res.Applied, c.State())
	return nil
}
