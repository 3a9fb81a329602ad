// Package workerapp turns your workflows and steps into a worker binary that
// behaves like `jetflow worker`: the same flags, environment, logging,
// metrics and shutdown, in a few lines of main.
//
//	func main() {
//		app := workerapp.New("orders-worker")
//		app.Register(orders.OrderWorkflow)
//		app.RegisterSteps(orders.Charge, orders.Ship)
//		os.Exit(app.Main(os.Args[1:]))
//	}
//
// The binary then takes:
//
//   - the NATS connection: --nats (alias --server; default $NATS_URL, then
//     nats://127.0.0.1:4222), --creds ($NATS_CREDS), --nkey ($NATS_NKEY),
//     --token-file (or $NATS_TOKEN, or --token), --user ($NATS_USER) with
//     --password-file (or $NATS_PASSWORD, or --password), --tlscert,
//     --tlskey, --tlsca, and --connect-wait (10s: a server that is not up
//     yet is waited for);
//   - the namespace: --prefix (default jetflow) and --replicas of the
//     streams and buckets the worker creates (3 on a cluster);
//   - the worker: --name (default host-pid), --concurrency (tasks at once
//     per workflow type and per step), --drain-timeout, --sweep-interval and
//     --sweep-grace, and --ack-wait (how long a crashed worker's task waits
//     before another worker gets it), which the deployment shares: given,
//     it must match the one in force; left out, the worker takes it;
//   - logs: --log-format text|json and --log-level, through log/slog on
//     standard error;
//   - metrics: --metrics-addr host:port serves Prometheus metrics on
//     /metrics; beyond loopback it needs --metrics-token-file (or
//     $JETFLOW_METRICS_TOKEN) or --insecure-metrics;
//   - stream limits: --events-max-age, --events-max-bytes, --dlq-max-age,
//     --dlq-max-bytes.
//
// On SIGINT or SIGTERM the worker takes no new task, lets tasks in flight
// finish for up to --drain-timeout, releases the rest to other workers and
// exits 0; a second signal exits at once. A bad flag exits 2 with a message
// that names it, before anything connects.
//
// A binary with flags of its own adds them to Flags, checks them in Check
// and uses them in Setup, which runs once the worker is connected (to open a
// bucket of its own, say) and may register what depends on them. `jetflow
// worker` is this package applied to the demo, with --workflows, --steps,
// --latency, --ledger and --exercise added that way.
//
// Clients need no worker binary: package workflow's Client starts runs, and
// `jetflow start NAME --input JSON` starts a run of any workflow a worker
// serves.
package workerapp
