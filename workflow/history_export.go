package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
)

// RunHistory is one execution of a run as a replay needs it: what
// ExportHistory returns and `jetflow history ID --json` prints under
// "replay". Save it (as JSON) from a run in production and replay it against
// changed code with ReplayHistory (or workflowtest.Replay, or a worker
// binary's `replay` command) to find out before deploying whether the change
// breaks runs in flight. Data is the execution's record, history batches and
// results in jetflow's storage encoding (msgpack); it is opaque, and
// versioned by Format.
type RunHistory struct {
	Format     int    `json:"format"`
	Workflow   string `json:"workflow"`
	WorkflowID string `json:"workflow_id"`
	Exec       int    `json:"exec"`
	Data       []byte `json:"data"`
}

// runHistoryFormat is the Format of the RunHistory this jetflow writes.
const runHistoryFormat = 1

// exported is what RunHistory.Data holds.
type exported struct {
	Run     kv.Run             `msgpack:"run"`
	Batches []kv.Batch         `msgpack:"b"`
	Results map[int]*kv.Result `msgpack:"r"`
}

// ExportHistory returns the current execution of the run id for replay (see
// RunHistory). A missing run gives ErrNotFound.
func (c *Client) ExportHistory(ctx context.Context, id string) (*RunHistory, error) {
	run, err := c.load(ctx, id)
	if err != nil {
		return nil, err
	}
	exec := max(run.Exec, 1)
	h, err := readHistory(ctx, c.env, kv.ExecKey(id, run.Inc, exec))
	if err != nil {
		_, steps, _ := kv.BucketNames(c.env.Names.Prefix)
		return nil, c.deployed(ctx, steps, fmt.Errorf("jetflow: reading the history of %s: %w", id, err))
	}
	data, err := kv.Marshal(exported{Run: run, Batches: h.batches, Results: h.results})
	if err != nil {
		return nil, err
	}
	return &RunHistory{Format: runHistoryFormat, Workflow: run.Workflow, WorkflowID: id, Exec: exec, Data: data}, nil
}

// ErrReplayMismatch matches (errors.Is) a history given to ReplayHistory for
// another workflow than the one to replay, or in a format this jetflow does
// not read.
var ErrReplayMismatch = errors.New("jetflow: history cannot be replayed by this workflow")

// ReplayHistory re-runs def's code against a saved history, as a worker
// that rebuilds the run would, and returns the *NonDeterminismError (or
// *VersionError) that worker would hit; nil when the code makes the same
// decisions. Nothing is connected to and no step runs: results come from the
// history. What the code would decide after the end of the history is not
// checked (it is new).
func ReplayHistory(def Registrable, h *RunHistory) error {
	if h == nil || h.Format != runHistoryFormat {
		return fmt.Errorf("%w: format %v, want %d", ErrReplayMismatch, formatOf(h), runHistoryFormat)
	}
	if h.Workflow != def.Name() {
		return fmt.Errorf("%w: the history is of workflow %s, not %s", ErrReplayMismatch, h.Workflow, def.Name())
	}
	var ex exported
	if err := kv.Unmarshal(h.Data, &ex); err != nil {
		return fmt.Errorf("%w: history of %s: %v", kv.ErrCorrupt, h.WorkflowID, err)
	}
	if ex.Results == nil {
		ex.Results = map[int]*kv.Result{}
	}
	w := offlineWorker()
	x := newExecution(w, def, ex.Run)
	defer x.kill()
	if err := x.replayHistory(&history{batches: ex.Batches, results: ex.Results}); err != nil {
		return err
	}
	var nd *NonDeterminismError
	var ve *VersionError
	if errors.As(x.fatal, &nd) || errors.As(x.fatal, &ve) {
		return x.fatal
	}
	return nil
}

func formatOf(h *RunHistory) any {
	if h == nil {
		return "none"
	}
	return h.Format
}

// offlineWorker is a worker with no connection, for code that only replays:
// it never publishes, and decisions past the history are only made, never
// recorded.
func offlineWorker() *Worker {
	return &Worker{cfg: defaultConfig(), env: &wire.Env{}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// ParseRunHistory reads a saved history: the output of `jetflow history ID
// --json` (its "replay" field) or a RunHistory as JSON.
func ParseRunHistory(data []byte) (*RunHistory, error) {
	var file struct {
		Replay *RunHistory `json:"replay"`
		RunHistory
	}
	if err := json.Unmarshal(data, &file); err != nil {
		return nil, fmt.Errorf("%w: not a saved history: %v", ErrReplayMismatch, err)
	}
	if file.Replay != nil {
		return file.Replay, nil
	}
	if file.Format == 0 || len(file.Data) == 0 {
		return nil, fmt.Errorf("%w: no \"replay\" in it (save it with jetflow history ID --json from this version)", ErrReplayMismatch)
	}
	return &file.RunHistory, nil
}
