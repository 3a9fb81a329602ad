package main

import (
	"os"
	"strings"
)

// secret is a password or token that may come from a flag, a file or the
// environment, in that order. A flag puts the secret in the process list
// (/proc/PID/cmdline) for every local user to read; a file or the
// environment does not. The secret itself never appears in an error.
type secret struct {
	flag     string // "--token"
	fileFlag string // "--token-file"
	env      string // "JETFLOW_TOKEN"; empty when there is no environment form
	value    string // the flag's value
	file     string // the file flag's value
}

// resolve returns the secret, or "" when none was given.
func (s *secret) resolve() (string, error) {
	if s.value != "" && s.file != "" {
		return "", usagef("%s and %s: give one of them", s.flag, s.fileFlag)
	}
	if s.value != "" {
		return s.value, nil
	}
	if s.file != "" {
		b, err := os.ReadFile(s.file)
		if err != nil {
			// A *PathError names the file, never its content.
			return "", usagef("%s: %v", s.fileFlag, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", usagef("%s %s: the file is empty", s.fileFlag, s.file)
		}
		if strings.ContainsAny(v, "\r\n") {
			return "", usagef("%s %s: want the secret on one line", s.fileFlag, s.file)
		}
		return v, nil
	}
	if s.env != "" {
		return os.Getenv(s.env), nil
	}
	return "", nil
}
