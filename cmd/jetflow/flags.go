package main

import (
	"errors"
	"flag"
	"io"

	shared "github.com/jetflow-dev/jetflow/internal/cli"
)

// The flags and errors every command shares live in internal/cli, so that
// worker binaries built with workflow/workerapp take the same ones; these
// names keep the commands short.
type (
	natsFlags  = shared.NATSFlags
	secret     = shared.Secret
	limitFlags = shared.LimitFlags
	// usageError is a mistake in the command line or its input: exit status 2.
	usageError = shared.UsageError
)

func usagef(format string, args ...any) error { return shared.Usagef(format, args...) }

func redactURLs(urls string) string { return shared.RedactURLs(urls) }

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	return shared.NewFlagSet("jetflow "+name, stderr)
}

// parseFlags parses args and turns a bad flag into a usage error (exit 2);
// -h prints the flags and exits 0.
func parseFlags(fs *flag.FlagSet, args []string) error {
	return helpExits(shared.ParseFlags(fs, args))
}

// parseArgs parses flags and positional arguments in any order
// (`status ID --json` as well as `status --json ID`); "--" ends the flags.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	pos, err := shared.ParseArgs(fs, args)
	return pos, helpExits(err)
}

// wantArgs checks the number of positional arguments.
func wantArgs(pos []string, min, max int, what string) error {
	return shared.WantArgs(pos, min, max, what)
}

// helpExits turns -h, whose flags are printed, into exit status 0.
func helpExits(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return &exitError{code: 0}
	}
	return err
}
