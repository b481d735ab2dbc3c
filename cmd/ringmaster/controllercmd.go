package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ringmaster-io/ringmaster/controller"
	"github.com/ringmaster-io/ringmaster/internal/livestore"
	"github.com/ringmaster-io/ringmaster/internal/reposource"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/render"
)

// stringList is a flag that may be given several times.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// runController runs the reconcile daemon until SIGTERM or SIGINT.
func runController(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("controller", "controller --repo URL [--branch BRANCH] --env ENV [--env ENV...] [--listen ADDR]", stdout, stderr)
	var (
		envs    stringList
		limits  render.Limits
		cf      clusterFlags
		repo    = c.fs.String("repo", "", "repository to follow: a Git URL (file://, https://, ssh://) or a directory")
		branch  = c.fs.String("branch", "", "branch to follow (default: the remote's default branch)")
		every   = c.fs.Duration("interval", time.Minute, "how often to fetch the branch (less up to a tenth at random)")
		listen  = c.fs.String("listen", "127.0.0.1:9090", "address of /metrics, /healthz, /readyz and the webhook")
		hook    = c.fs.String("webhook-path", "", "path of the webhook (default: /hooks/ and a hash of the secret, not guessable)")
		secretF = c.fs.String("webhook-secret-file", "", "file holding the webhook secret (or env RINGMASTER_WEBHOOK_SECRET); no secret: no webhook")
		minB    = c.fs.Duration("backoff-min", time.Second, "first wait before retrying a failing commit")
		maxB    = c.fs.Duration("backoff-max", 5*time.Minute, "longest wait before retrying a failing commit")
		dryRun  = c.fs.Bool("dry-run", false, "compute and report every reconcile, write nothing")
		logs    logFlags
	)
	logs.register(c.fs)
	c.fs.Var(&envs, "env", "environment to reconcile (repeat, or comma-separate, for several)")
	var notifyURLs, slackURLs stringList
	c.fs.Var(&notifyURLs, "notify-url", "POST each event (applied, failed, stalled, drift_corrected, suspended) as JSON here, signed with env RINGMASTER_NOTIFY_SECRET when set (repeatable)")
	c.fs.Var(&slackURLs, "notify-slack-url", "post each event to this Slack-compatible incoming webhook (repeatable; prefer env RINGMASTER_NOTIFY_SLACK_URL)")
	var driftFlags stringList
	c.fs.Var(&driftFlags, "drift", "drift mode, correct (default), warn or off: MODE for every environment, ENV=MODE for one (repeatable)")
	registerLimits(c.fs, &limits)
	var trustedKeys string
	registerTrustedKeys(c.fs, &trustedKeys)
	cf.register(c.fs, useZK|useCassandra|useApply)
	config := c.fs.String("config", "", "YAML file of settings: flag names to values (lists for repeatable flags); flags on the command line win; secrets only from the environment or files")
	if _, code, ok := c.parse(args, 0, 0); !ok {
		return code
	}
	if *config != "" {
		if err := applyConfigFile(c.fs, *config); err != nil {
			return c.usageError("%v", err)
		}
	}
	switch {
	case *repo == "":
		return c.usageError("--repo is required")
	case len(envs) == 0:
		return c.usageError("--env is required")
	case *every <= 0 || *minB <= 0 || *maxB < *minB:
		return c.usageError("--interval and --backoff-min must be positive, --backoff-max at least --backoff-min")
	}
	log, err := logs.logger(stderr)
	if err != nil {
		return c.usageError("%v", err)
	}
	if err := cf.check(); err != nil {
		return c.usageError("%v", err)
	}
	drift, err := driftModes(driftFlags, envs)
	if err != nil {
		return c.usageError("--drift: %v", err)
	}
	secret, err := webhookSecret(*secretF)
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster controller: %v\n", err)
		return exitError
	}
	var notify []controller.Notifier
	for _, u := range notifyURLs {
		notify = append(notify, controller.Notifier{URL: u, Secret: []byte(os.Getenv("RINGMASTER_NOTIFY_SECRET"))})
	}
	if u := os.Getenv("RINGMASTER_NOTIFY_SLACK_URL"); u != "" {
		slackURLs = append(slackURLs, u)
	}
	for _, u := range slackURLs {
		notify = append(notify, controller.Notifier{URL: u, Slack: true})
	}
	for _, n := range notify {
		if !strings.HasPrefix(n.URL, "http://") && !strings.HasPrefix(n.URL, "https://") {
			return c.usageError("notification URL %q: want http:// or https://", n.URL)
		}
	}

	g, err := gitOptions(trustedKeys)
	if err != nil {
		return c.usageError("%v", err)
	}
	src, err := reposource.Open(ctx, *repo, reposource.Options{Limits: limits, CacheParses: true, Git: g})
	if err != nil {
		printProblems(stderr, err)
		return exitError
	}
	metrics := controller.NewMetrics()
	ctl, err := controller.New(controller.Config{
		Source: src, Branch: *branch, Environments: envs, Interval: *every,
		Backoff: controller.Backoff{Min: *minB, Max: *maxB}, LockTimeout: cf.lockTimeout, Drift: drift,
		Connect: func(ctx context.Context, cl state.Cluster) (*livestore.Drivers, error) {
			cf.resolve(&cl)
			return livestore.Connect(ctx, cf.config(cl))
		},
		Holder: holderInfo(append([]string{"controller"}, args...)), DryRun: *dryRun, Logger: log, Metrics: metrics, Notify: notify,
	})
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster controller: %v\n", err)
		return exitError
	}

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ctl.Ready() {
			http.Error(w, "not ready: an environment has no ZooKeeper session or its repository was not read", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if len(secret) > 0 {
		path := *hook
		if path == "" {
			sum := sha256.Sum256(append([]byte("ringmaster webhook "), secret...))
			path = "/hooks/" + hex.EncodeToString(sum[:12])
		}
		mux.Handle(path, &controller.Webhook{Secret: secret, Trigger: ctl.Trigger, Logger: log})
		log.Info("webhook enabled", "path", path)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster controller: listen %s: %v\n", *listen, err)
		return exitError
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	var wg gosync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "error", err)
		}
	})
	log.Info("controller started", "repo", src.Location(), "branch", *branch, "environments", strings.Join(envs, ","),
		"listen", ln.Addr().String(), "dry_run", *dryRun, "pid", os.Getpid())
	_ = ctl.Run(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	wg.Wait()
	log.Info("controller stopped", "cause", context.Cause(ctx))
	if errors.Is(context.Cause(ctx), errInterrupted) {
		return exitOK // a signal is how a daemon is asked to stop
	}
	return exitError
}

// driftModes reads --drift values: MODE for every environment, ENV=MODE
// for one.
func driftModes(values, envs []string) (map[string]controller.DriftMode, error) {
	out := map[string]controller.DriftMode{}
	for _, v := range values {
		env, mode, one := strings.Cut(v, "=")
		if !one {
			mode = env
		}
		m, err := controller.ParseDriftMode(mode)
		if err != nil {
			return nil, err
		}
		if !one {
			for _, e := range envs {
				if _, set := out[e]; !set {
					out[e] = m
				}
			}
			continue
		}
		if !slices.Contains(envs, env) {
			return nil, fmt.Errorf("%s is not an --env of this controller", env)
		}
		out[env] = m
	}
	return out, nil
}

// webhookSecret reads the secret from file, else RINGMASTER_WEBHOOK_SECRET.
func webhookSecret(file string) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("webhook secret: %w", err)
		}
		return []byte(strings.TrimSpace(string(b))), nil
	}
	return []byte(os.Getenv("RINGMASTER_WEBHOOK_SECRET")), nil
}
