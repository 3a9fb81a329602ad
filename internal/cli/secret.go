package cli

import (
	"os"
	"strings"
)

// Secret is a password or token that may come from a flag, a file or the
// environment, in that order. A flag puts the secret in the process list
// (/proc/PID/cmdline) for every local user to read; a file or the
// environment does not. The secret itself never appears in an error.
type Secret struct {
	Flag     string // "--token"
	FileFlag string // "--token-file"
	Env      string // "JETFLOW_TOKEN"; empty when there is no environment form
	Value    string // the flag's value
	File     string // the file flag's value
}

// Resolve returns the secret, or "" when none was given.
func (s *Secret) Resolve() (string, error) {
	if s.Value != "" && s.File != "" {
		return "", Usagef("%s and %s: give one of them", s.Flag, s.FileFlag)
	}
	if s.Value != "" {
		return s.Value, nil
	}
	if s.File != "" {
		b, err := os.ReadFile(s.File)
		if err != nil {
			// A *PathError names the file, never its content.
			return "", Usagef("%s: %v", s.FileFlag, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", Usagef("%s %s: the file is empty", s.FileFlag, s.File)
		}
		if strings.ContainsAny(v, "\r\n") {
			return "", Usagef("%s %s: want the secret on one line", s.FileFlag, s.File)
		}
		return v, nil
	}
	if s.Env != "" {
		return os.Getenv(s.Env), nil
	}
	return "", nil
}
