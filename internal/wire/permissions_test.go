package wire

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// The lists follow the namespace: another prefix names only its own
// subjects, streams and buckets.
func TestPermissionsFollowThePrefix(t *testing.T) {
	for _, role := range Roles {
		t.Run(role, func(t *testing.T) {
			p, err := NewNames("acme").Permissions(role, PermissionOptions{ExtraBuckets: []string{"acme_ledger"}})
			if err != nil {
				t.Fatal(err)
			}
			all := slices.Concat(p.Publish.Allow, p.Publish.Deny, p.Subscribe.Allow, p.Subscribe.Deny)
			for _, s := range all {
				if strings.Contains(strings.ToLower(s), "jetflow") {
					t.Errorf("subject %q names the default namespace", s)
				}
			}
			if len(p.Publish.Allow) == 0 || len(p.Subscribe.Allow) == 0 {
				t.Errorf("got %+v, want publish and subscribe allow lists", p)
			}
		})
	}
}

func TestPermissionsOfEachRole(t *testing.T) {
	n := NewNames("")
	tests := []struct {
		role                 string
		pub, notPub, denyPub []string
		sub                  []string
		responses            bool
	}{
		{role: RoleWorker,
			pub:       []string{"jetflow.wf.>", "jetflow.step.>", "jetflow.sched.>", "$KV.jetflow_steps.>", "$JS.API.STREAM.CREATE.JETFLOW_TASKS", "$JS.API.STREAM.UPDATE.JETFLOW_EVENTS", "$JS.API.STREAM.PURGE.KV_jetflow_steps", "$JS.ACK.JETFLOW_TASKS.>", "jetflow.own.>", "jetflow.start.>", "jetflow.signal.>"},
			notPub:    []string{"jetflow.>", "$JS.API.STREAM.DELETE.JETFLOW_TASKS", "$JS.API.>"},
			sub:       []string{"_INBOX.>", "jetflow.own.*"},
			responses: true},
		{role: RoleClient,
			pub:     []string{"jetflow.start.>", "$KV.jetflow_runs.>", "jetflow.status.*.*.no_worker", "$JS.API.DIRECT.GET.KV_jetflow_runs.>"},
			notPub:  []string{"jetflow.wf.>", "$KV.jetflow_steps.>", "$JS.API.STREAM.CREATE.JETFLOW_TASKS"},
			denyPub: []string{"jetflow.wf.>", "jetflow.step.>", "$KV.jetflow_steps.>", "$JS.API.STREAM.DELETE.>", "$JS.API.STREAM.PURGE.>", "$JS.API.STREAM.CREATE.>"},
			sub:     []string{"_INBOX.>", "jetflow.status.>"}},
		{role: RoleWatcher,
			pub:     []string{"$JS.API.STREAM.INFO.JETFLOW_EVENTS", "$JS.API.DIRECT.GET.KV_jetflow_steps.>", "$JS.API.CONSUMER.CREATE.KV_jetflow_steps.*"},
			notPub:  []string{"jetflow.start.>", "$KV.jetflow_runs.>"},
			denyPub: []string{"jetflow.>", "$KV.>", "$JS.API.STREAM.DELETE.>", "$JS.API.STREAM.PURGE.>", "$JS.API.STREAM.CREATE.>", "$JS.API.CONSUMER.CREATE.JETFLOW_TASKS.>"},
			sub:     []string{"_INBOX.>", "jetflow.status.>", "jetflow.breaker.>"}},
		{role: RoleAdmin,
			pub:       []string{"jetflow.>", "$JS.API.STREAM.*.JETFLOW_TASKS", "$KV.jetflow_runs.>"},
			notPub:    []string{"$JS.API.>"},
			sub:       []string{"jetflow.>"},
			responses: true},
	}
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			p, err := n.Permissions(tt.role, PermissionOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.pub {
				if !slices.Contains(p.Publish.Allow, s) {
					t.Errorf("publish allow lacks %q", s)
				}
			}
			for _, s := range tt.notPub {
				if slices.Contains(p.Publish.Allow, s) {
					t.Errorf("publish allow has %q", s)
				}
			}
			for _, s := range tt.denyPub {
				if !slices.Contains(p.Publish.Deny, s) {
					t.Errorf("publish deny lacks %q", s)
				}
			}
			for _, s := range tt.sub {
				if !slices.Contains(p.Subscribe.Allow, s) {
					t.Errorf("subscribe allow lacks %q", s)
				}
			}
			if p.AllowResponses != tt.responses {
				t.Errorf("allow_responses %v, want %v", p.AllowResponses, tt.responses)
			}
			var back Permissions
			if err := json.Unmarshal([]byte(p.JSON()), &back); err != nil || !slices.Equal(back.Publish.Allow, p.Publish.Allow) {
				t.Errorf("JSON does not read back: %v", err)
			}
			if nsc := p.Nsc("u"); !strings.HasPrefix(nsc, "nsc edit user --name 'u'") || strings.Count(nsc, "--allow-pub '") != len(p.Publish.Allow) {
				t.Errorf("nsc command:\n%s", nsc)
			}
		})
	}
	if _, err := n.Permissions("root", PermissionOptions{}); !errors.Is(err, ErrUnknownRole) {
		t.Errorf("unknown role: got %v, want ErrUnknownRole", err)
	}
}
