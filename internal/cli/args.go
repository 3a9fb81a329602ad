package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// NewFlagSet returns a flag set that reports its errors instead of exiting.
func NewFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// ParseFlags parses args and turns a bad flag into a *UsageError; -h prints
// the flags to the flag set's output and returns flag.ErrHelp.
func ParseFlags(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	// The flag package would print the usage on every error; the
	// *UsageError says what is wrong in one line instead.
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(out)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(out, "usage of %s:\n", fs.Name())
		fs.PrintDefaults()
		return flag.ErrHelp
	}
	if err != nil {
		return Usagef("%v (see '%s -h')", err, fs.Name())
	}
	return nil
}

// ParseArgs parses flags and positional arguments in any order
// (`status ID --json` as well as `status --json ID`); "--" ends the flags.
func ParseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := ParseFlags(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// WantArgs checks the number of positional arguments; what names the
// missing ones.
func WantArgs(pos []string, min, max int, what string) error {
	switch {
	case len(pos) < min:
		return Usagef("missing %s", what)
	case len(pos) > max:
		return Usagef("unexpected argument %q", pos[max])
	}
	return nil
}
