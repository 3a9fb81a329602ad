package workerapp

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/jetflow-dev/jetflow/internal/cli"
	"github.com/jetflow-dev/jetflow/workflow"
)

// ErrReplayFailed matches (errors.Is) the error of a replay command that
// found a history the code does not replay (Main exits 1).
var ErrReplayFailed = errors.New("replay: the code does not replay every history")

// replay is the App's replay command: `PROGRAM replay [--workflow NAME]
// FILE...` replays each saved history (`jetflow history ID --json > FILE`)
// against the workflows registered here, offline, and says for each whether
// the code makes the same decisions. It is the check to run in CI before
// deploying changed workflow code.
func (a *App) replay(args []string, stdout io.Writer) error {
	fs := cli.NewFlagSet(a.program+" replay", a.out)
	only := fs.String("workflow", "", "replay only histories of this workflow; any other is an error")
	files, err := cli.ParseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := cli.WantArgs(files, 1, 1<<30, "FILE...: saved histories (jetflow history ID --json > FILE)"); err != nil {
		return err
	}
	defs := map[string]workflow.Registrable{}
	for _, d := range a.workflows {
		defs[d.Name()] = d
	}
	failed := 0
	for _, file := range files {
		err := replayFile(file, *only, defs)
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "FAIL  %s: %v\n", file, err)
			continue
		}
		fmt.Fprintf(stdout, "ok    %s\n", file)
	}
	if failed > 0 {
		return fmt.Errorf("%w: %d of %d failed", ErrReplayFailed, failed, len(files))
	}
	return nil
}

func replayFile(file, only string, defs map[string]workflow.Registrable) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	h, err := workflow.ParseRunHistory(data)
	if err != nil {
		return err
	}
	if only != "" && h.Workflow != only {
		return fmt.Errorf("%w: run %s is of workflow %s, not %s", workflow.ErrReplayMismatch, h.WorkflowID, h.Workflow, only)
	}
	def := defs[h.Workflow]
	if def == nil {
		return fmt.Errorf("%w: workflow %s (run %s) is not registered in this binary", workflow.ErrReplayMismatch, h.Workflow, h.WorkflowID)
	}
	return workflow.ReplayHistory(def, h)
}

// isReplay reports whether args ask for the replay command.
func isReplay(args []string) bool { return len(args) > 0 && args[0] == "replay" }
