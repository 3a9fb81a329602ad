package wire

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jetflow-dev/jetflow/kv"
)

// The roles of a jetflow deployment, as NATS subject permissions. They are
// computed from the names the engine uses, so they follow the code; the
// tests run an order end to end with them on a real server and check what
// each role is refused.
const (
	// RoleWorker runs workflows and steps: it consumes and publishes tasks,
	// reads and writes every bucket, publishes events, answers wake-ups on
	// its owner subject, and creates (or updates) the streams and buckets.
	RoleWorker = "worker"
	// RoleClient starts runs (a run record, then a start hint) and reads
	// them: records, results, history, events, breakers.
	RoleClient = "client"
	// RoleWatcher reads: events, records, results, history, breakers.
	RoleWatcher = "watcher"
	// RoleAdmin may do anything to the namespace: create, update, purge and
	// delete its streams and buckets, publish on any of its subjects.
	RoleAdmin = "admin"
)

// Roles lists the roles, least privileged last.
var Roles = []string{RoleAdmin, RoleWorker, RoleClient, RoleWatcher}

// ErrUnknownRole is returned by Permissions for a name not in Roles.
var ErrUnknownRole = fmt.Errorf("jetflow: unknown role (want one of %s)", strings.Join(Roles, ", "))

// SubjectList is one direction of a permission: allowed subjects and, where
// an allowed wildcard is wider than the role, denied ones (a deny wins).
type SubjectList struct {
	Allow []string `json:"allow"`
	Deny  []string `json:"deny,omitempty"`
}

// Permissions are a role's NATS permissions, in the shape of a nats-server
// user's permissions block (and of a JWT user's pub/sub/resp claims).
type Permissions struct {
	Role      string      `json:"-"`
	Publish   SubjectList `json:"publish"`
	Subscribe SubjectList `json:"subscribe"`
	// AllowResponses lets the user answer the requests it receives (a
	// worker answering wake-ups from other workers) without a publish
	// right on every inbox.
	AllowResponses bool `json:"allow_responses,omitempty"`
}

// js is the JetStream API prefix; these subjects are the ones nats.go's
// jetstream package and the nats CLI use (ADR-1 of nats-architecture-and-design).
const js = "$JS.API."

// PermissionOptions adjust the roles.
type PermissionOptions struct {
	// ExtraBuckets are buckets of the user's own (the demo's ledger) that
	// workers and admins may use too.
	ExtraBuckets []string
	// NoSetup takes from the worker the right to create and update streams
	// and buckets: an admin sets the namespace up (`jetflow init`, with the
	// same limits as the workers) before any worker starts, and a worker
	// then only opens what exists.
	NoSetup bool
}

// Permissions returns the subject permissions of role in this namespace.
func (n Names) Permissions(role string, opt PermissionOptions) (Permissions, error) {
	extraBuckets := opt.ExtraBuckets
	runs, steps, breakers := kv.BucketNames(n.Prefix)
	p := n.Prefix
	tasks, events, dlq := n.TaskStream(), n.EventStream(), n.DeadLetterStream()
	kvs := func(b string) string { return "KV_" + b }
	var pub, sub, pubDeny []string
	var resp bool

	// Reads, shared by client and watcher: bind and list keys (stream
	// info), gets and the last history batch of a run (direct gets), a
	// run's history (a short-lived pull consumer on the steps bucket),
	// events (an ordered pull consumer on the event stream, the last event
	// by message get), live events (core subscriptions).
	reads := func() {
		for _, s := range []string{tasks, events, kvs(runs), kvs(steps), kvs(breakers)} {
			pub = append(pub, js+"STREAM.INFO."+s)
		}
		for _, b := range []string{runs, steps, breakers} {
			pub = append(pub, js+"DIRECT.GET."+kvs(b)+".>")
		}
		pub = append(pub, js+"STREAM.MSG.GET."+events)
		// jetflow doctor (without --repair): the run records through a
		// short-lived consumer, schedules by message get.
		pub = append(pub, js+"STREAM.MSG.GET."+tasks)
		for _, s := range []string{events, kvs(steps), kvs(runs)} {
			pub = append(pub, readerConsumer(s)...)
		}
		sub = append(sub, "_INBOX.>", p+".status.>", p+".breaker.>", p+".schedule.>")
	}
	// What a reader may not do, said outright so that a list merged with a
	// wider one (the "$JS.API.>" of old) still refuses it.
	readerDeny := func(own ...string) {
		pubDeny = append(pubDeny, own...)
		pubDeny = append(pubDeny,
			js+"STREAM.CREATE.>", js+"STREAM.UPDATE.>", js+"STREAM.DELETE.>", js+"STREAM.PURGE.>",
			js+"STREAM.MSG.DELETE.>", js+"STREAM.RESTORE.>", js+"STREAM.SNAPSHOT.>",
			js+"CONSUMER.CREATE."+tasks+".>", js+"CONSUMER.DURABLE.CREATE."+tasks+".>",
			js+"CONSUMER.DELETE."+tasks+".>", js+"CONSUMER.MSG.NEXT."+tasks+".>",
			"$JS.ACK."+tasks+".>", "$JS.ACK.*.*."+tasks+".>")
	}

	switch role {
	case RoleWatcher:
		reads()
		readerDeny(p+".>", "$KV.>")
	case RoleClient:
		reads()
		// Start: the run record, created (and its Waiting note updated)
		// in the runs bucket, then the start hint; whether a worker serves
		// the workflow type (the durable consumer's info), and a no_worker
		// event when none does.
		// Signals, cancel and terminate: a message on the run's signal
		// subject (a hint the worker reads in order from the stream).
		// Schedules: their records live in the runs bucket; a change is
		// announced to the workflow type's workers on its start subject
		// (only workers arm wake-ups), and reported as a schedule event.
		pub = append(pub, "$KV."+runs+".>", n.StartSubject(">"), n.StatusSubject("*", "*", EventNoWorker),
			js+"CONSUMER.INFO."+tasks+".*", p+".signal.>", p+".query.>", n.ScheduleEventSubject("*", "*"))
		readerDeny(p+".wf.>", p+".step.>", p+".sched.>", p+".tick.>", p+".dlq.>", p+".own.>", "$KV."+steps+".>", "$KV."+breakers+".>")
	case RoleWorker:
		// Tasks: consume (durable pull consumers on the task stream, acks
		// in both ack formats), publish (workflow and step tasks, delayed
		// ones as message schedules), park poison ones, report.
		pub = append(pub, n.WorkflowSubject(">"), n.StepSubject(">"), p+".sched.>", p+".dlq.>",
			p+".status.>", p+".breaker.>", p+".own.>", p+".halt.>")
		// Child workflows: the start hint of a child, and the cancel or
		// terminate its parent's close policy sends it.
		pub = append(pub, n.StartSubject(">"), p+".signal.>")
		// Schedules: their wake-ups (message schedules) and events.
		pub = append(pub, p+".tick.>", p+".schedule.>")
		// Signals read in order from the task stream; schedules checked and
		// dropped by the sweeper; results confirmed with the steps
		// bucket's leader before a task is parked.
		pub = append(pub, js+"STREAM.MSG.GET."+tasks, js+"STREAM.PURGE."+tasks, js+"STREAM.MSG.GET."+kvs(steps))
		pub = append(pub,
			js+"CONSUMER.CREATE."+tasks+".*", js+"CONSUMER.CREATE."+tasks+".*.>",
			js+"CONSUMER.INFO."+tasks+".*", js+"CONSUMER.MSG.NEXT."+tasks+".*",
			"$JS.ACK."+tasks+".>", "$JS.ACK.*.*."+tasks+".>")
		buckets := append([]string{runs, steps, breakers}, extraBuckets...)
		streams := []string{tasks, events, dlq}
		for _, b := range buckets {
			streams = append(streams, kvs(b))
			pub = append(pub, "$KV."+b+".>", js+"DIRECT.GET."+kvs(b)+".>")
		}
		// Set up: create, or update in place, every stream and bucket
		// (creating a bucket first asks for the account's JetStream info).
		// Without setup rights, a worker only looks them up.
		if !opt.NoSetup {
			pub = append(pub, js+"INFO")
		}
		for _, s := range streams {
			pub = append(pub, js+"STREAM.INFO."+s)
			if !opt.NoSetup {
				pub = append(pub, js+"STREAM.CREATE."+s, js+"STREAM.UPDATE."+s)
			}
		}
		// Retention: purge a closed run's results, history, events, record.
		for _, s := range []string{events, kvs(runs), kvs(steps)} {
			pub = append(pub, js+"STREAM.PURGE."+s)
		}
		// Rebuilding a run: its history through a short-lived consumer;
		// the sweeper reads the run records the same way.
		pub = append(pub, readerConsumer(kvs(steps))...)
		pub = append(pub, readerConsumer(kvs(runs))...)
		// Wake-ups: a core request to the worker that holds a run, and the
		// answer to one (allow_responses, not a right on every inbox);
		// halts of canceled runs' attempts.
		sub = append(sub, "_INBOX.>", p+".own.*", p+".halt.>", p+".query.>")
		resp = true
	case RoleAdmin:
		pub = append(pub, p+".>", js+"INFO", js+"STREAM.NAMES", js+"STREAM.LIST")
		sub = append(sub, "_INBOX.>", p+".>")
		buckets := append([]string{runs, steps, breakers}, extraBuckets...)
		streams := []string{tasks, events, dlq}
		for _, b := range buckets {
			streams = append(streams, kvs(b))
			pub = append(pub, "$KV."+b+".>")
			sub = append(sub, "$KV."+b+".>")
		}
		for _, s := range streams {
			pub = append(pub,
				js+"STREAM.*."+s, js+"STREAM.*.*."+s,
				js+"CONSUMER.*."+s, js+"CONSUMER.*."+s+".>", js+"CONSUMER.*.*."+s+".>",
				js+"DIRECT.GET."+s, js+"DIRECT.GET."+s+".>",
				"$JS.ACK."+s+".>", "$JS.ACK.*.*."+s+".>")
			pub = append(pub, flowControl(s)...)
		}
		resp = true
	default:
		return Permissions{}, fmt.Errorf("%w: %q", ErrUnknownRole, role)
	}
	return Permissions{
		Role:           role,
		Publish:        SubjectList{Allow: pub, Deny: pubDeny},
		Subscribe:      SubjectList{Allow: sub},
		AllowResponses: resp,
	}, nil
}

// readerConsumer is what a short-lived consumer of stream needs: create it
// (one filter puts the filter in the subject, several do not), pull from it,
// look at it, delete it.
func readerConsumer(stream string) []string {
	return []string{
		js + "CONSUMER.CREATE." + stream + ".*", js + "CONSUMER.CREATE." + stream + ".*.>",
		js + "CONSUMER.MSG.NEXT." + stream + ".*", js + "CONSUMER.INFO." + stream + ".*",
		js + "CONSUMER.DELETE." + stream + ".*",
	}
}

// flowControl is the reply subject of a push consumer's flow control, in
// both formats of nats-server (v1 now, v2 when its feature flag is on).
func flowControl(stream string) []string {
	return []string{"$JS.FC." + stream + ".>", "$JS.FC.*.*." + stream + ".>"}
}

// Conf renders the permissions as the body of a nats-server permissions
// block: paste it inside `permissions: { ... }` of a user, or keep it in a
// file and `include` it there.
func (p Permissions) Conf() string {
	var b strings.Builder
	list := func(indent, key string, subjects []string) {
		if len(subjects) == 0 {
			return
		}
		fmt.Fprintf(&b, "%s%s: [\n", indent, key)
		for _, s := range subjects {
			fmt.Fprintf(&b, "%s  %q\n", indent, s)
		}
		fmt.Fprintf(&b, "%s]\n", indent)
	}
	for _, dir := range []struct {
		key  string
		list SubjectList
	}{{"publish", p.Publish}, {"subscribe", p.Subscribe}} {
		fmt.Fprintf(&b, "%s: {\n", dir.key)
		list("  ", "allow", dir.list.Allow)
		list("  ", "deny", dir.list.Deny)
		b.WriteString("}\n")
	}
	if p.AllowResponses {
		b.WriteString("allow_responses: true\n")
	}
	return b.String()
}

// JSON renders the permissions as a JSON object of the same shape as Conf
// (nats-server reads it too), for tools that build configs or accounts.
func (p Permissions) JSON() string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // subjects end in ">": keep it readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		// Only strings and bools: encoding cannot fail.
		return "{}\n"
	}
	return b.String()
}

// Nsc renders the permissions as an nsc command that gives them to a JWT
// user named user (nsc edit user; add --account when needed).
func (p Permissions) Nsc(user string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "nsc edit user --name %s", shellQuote(user))
	flags := []struct {
		flag     string
		subjects []string
	}{{"--allow-pub", p.Publish.Allow}, {"--deny-pub", p.Publish.Deny}, {"--allow-sub", p.Subscribe.Allow}, {"--deny-sub", p.Subscribe.Deny}}
	for _, f := range flags {
		for _, s := range f.subjects {
			fmt.Fprintf(&b, " \\\n  %s %s", f.flag, shellQuote(s))
		}
	}
	if p.AllowResponses {
		b.WriteString(" \\\n  --allow-pub-response")
	}
	b.WriteString("\n")
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
