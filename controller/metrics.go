package controller

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the controller's Prometheus metrics, named after the ones
// controller-runtime and Flux users know. A nil *Metrics records nothing.
type Metrics struct {
	Registry     *prometheus.Registry
	reconciles   *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	errors       *prometheus.CounterVec
	leader       *prometheus.GaugeVec
	info         *prometheus.GaugeVec
	lastSuccess  *prometheus.GaugeVec
	driftObjects *prometheus.GaugeVec
	session      *prometheus.GaugeVec
	agents       *prometheus.GaugeVec
	agentLag     *prometheus.GaugeVec
}

// NewMetrics registers the metrics, with Go's and the process's, on a
// registry of their own.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	env := []string{"environment"}
	m := &Metrics{
		Registry: reg,
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringmaster_reconcile_total",
			Help: "Reconciles by environment and result (applied, no_change, failed, stalled, suspended, drift_reported, dry_run)."}, []string{"environment", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ringmaster_reconcile_duration_seconds",
			Help: "How long a reconcile took, from fetch to status.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 12)}, env),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringmaster_reconcile_errors_total",
			Help: "Failed reconciles by environment and class (stalled, retry, transient)."}, []string{"environment", "class"}),
		leader: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ringmaster_controller_leader",
			Help: "1 while this replica leads the environment."}, env),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ringmaster_environment_info",
			Help: "1, labelled with the environment's last handled revision, readiness and suspension."}, []string{"environment", "revision", "ready", "suspended"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ringmaster_last_successful_reconcile_timestamp_seconds",
			Help: "Unix time of the last successful reconcile."}, env),
		driftObjects: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ringmaster_drift_objects",
			Help: "Objects found changed outside ringmaster at the last reconcile."}, env),
		session: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ringmaster_zookeeper_session_connected",
			Help: "1 while this replica holds a ZooKeeper session for the environment (leading or standing by)."}, env),
		agents: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ringmaster_agents",
			Help: "Node agents registered, by state: converged (at the current generation, every setting applied, node up), behind, down (the node does not answer its agent). Set by the leader."}, []string{"environment", "state"}),
		agentLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ringmaster_agent_generation_lag",
			Help: "Generations between the environment's current one and the furthest-behind agent's. Set by the leader."}, env),
	}
	reg.MustRegister(m.reconciles, m.duration, m.errors, m.leader, m.info, m.lastSuccess, m.driftObjects, m.session, m.agents, m.agentLag,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *Metrics) reconciled(env, result string, seconds float64) {
	if m == nil {
		return
	}
	m.reconciles.WithLabelValues(env, result).Inc()
	m.duration.WithLabelValues(env).Observe(seconds)
}

func (m *Metrics) failed(env string, class Class) {
	if m != nil {
		m.errors.WithLabelValues(env, string(class)).Inc()
	}
}

func (m *Metrics) succeeded(env string, unix float64, drift int) {
	if m != nil {
		m.lastSuccess.WithLabelValues(env).Set(unix)
		m.driftObjects.WithLabelValues(env).Set(float64(drift))
	}
}

func (m *Metrics) leading(env string, yes bool) {
	if m != nil {
		m.leader.WithLabelValues(env).Set(b2f(yes))
	}
}

func (m *Metrics) connected(env string, yes bool) {
	if m != nil {
		m.session.WithLabelValues(env).Set(b2f(yes))
	}
}

// fleet records env's node agents by state and the largest generation
// lag.
func (m *Metrics) fleet(env string, converged, behind, down int, lag int64) {
	if m == nil {
		return
	}
	for state, n := range map[string]int{"converged": converged, "behind": behind, "down": down} {
		m.agents.WithLabelValues(env, state).Set(float64(n))
	}
	m.agentLag.WithLabelValues(env).Set(float64(lag))
}

// environment replaces env's info series with one for its current state.
func (m *Metrics) environment(env, revision string, ready, suspended bool) {
	if m == nil {
		return
	}
	m.info.DeletePartialMatch(prometheus.Labels{"environment": env})
	m.info.WithLabelValues(env, revision, strconv.FormatBool(ready), strconv.FormatBool(suspended)).Set(1)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
