package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/steps"
)

func init() {
	register(command{name: "permissions", summary: "print a role's NATS permissions: permissions worker|client|watcher|admin [--format conf|json|nsc]", run: runPermissions})
}

func runPermissions(_ context.Context, args []string) error {
	var prefix, format, user string
	var demo, noSetup bool
	fs := newFlagSet("permissions", os.Stderr)
	fs.StringVar(&prefix, "prefix", "jetflow", "namespace of subjects, streams and buckets")
	fs.StringVar(&format, "format", "conf", "conf (the body of a nats-server permissions block), json, or nsc (an 'nsc edit user' command)")
	fs.StringVar(&user, "user", "", "user name in the nsc command (default the role)")
	fs.BoolVar(&demo, "demo", false, "include the demo's ledger bucket (<prefix>_demo_ledger), which 'jetflow worker' and 'jetflow demo' use")
	fs.BoolVar(&noSetup, "no-setup", false, "worker: no right to create or update streams and buckets (an admin runs 'jetflow init' first, with the workers' limits)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	roles := strings.Join(wire.Roles, ", ")
	if err := wantArgs(pos, 1, 1, "role: jetflow permissions ROLE (roles: "+roles+")"); err != nil {
		return err
	}
	if !steps.ValidName(prefix) {
		return usagef("--prefix %q: letters, digits, '-' and '_' only", prefix)
	}
	opt := wire.PermissionOptions{NoSetup: noSetup}
	if demo {
		opt.ExtraBuckets = append(opt.ExtraBuckets, ledgerBucket(prefix))
	}
	p, err := wire.NewNames(prefix).Permissions(pos[0], opt)
	if errors.Is(err, wire.ErrUnknownRole) {
		return usagef("unknown role %q (roles: %s)", pos[0], roles)
	}
	if err != nil {
		return err
	}
	switch format {
	case "conf":
		fmt.Printf("# jetflow role %q, namespace %q: `jetflow permissions %s --prefix %s`\n%s", p.Role, prefix, p.Role, prefix, p.Conf())
	case "json":
		fmt.Print(p.JSON())
	case "nsc":
		if user == "" {
			user = p.Role
		}
		fmt.Print(p.Nsc(user))
	default:
		return usagef("--format %q: want conf, json or nsc", format)
	}
	return nil
}
