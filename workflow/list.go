package workflow

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/kv"
)

// ListFilter selects runs. Zero fields select everything.
type ListFilter struct {
	Workflow string
	Status   Status
	// IDPrefix keeps runs whose ID starts with it.
	IDPrefix string
	// Since and Until bound when runs were created.
	Since, Until time.Time
	// Limit keeps the newest runs only (0: all).
	Limit int
}

// ListResult is the runs a List found, oldest first, and the IDs of run
// records that could not be decoded (skipped, so that one bad record hides
// no other).
type ListResult struct {
	Runs    []Record
	Corrupt []string
}

// List returns the runs the filter selects. It reads every run record of
// the deployment (closed runs are kept for their retention), so it costs
// one read per run.
func (c *Client) List(ctx context.Context, f ListFilter) (ListResult, error) {
	var res ListResult
	keys, err := c.env.Keys(ctx, c.env.Buckets.Runs.Bucket())
	if err != nil {
		return res, c.deployed(ctx, c.env.Buckets.Runs.Bucket(), err)
	}
	for _, key := range keys {
		if ValidateID(key) != nil || !strings.HasPrefix(key, f.IDPrefix) {
			continue // not a run (the sweeper's lease), or not asked for
		}
		run, _, err := kv.Get[kv.Run](ctx, c.env.Buckets.Runs, key)
		switch {
		case errors.Is(err, kv.ErrNotFound):
			continue // deleted meanwhile
		case errors.Is(err, kv.ErrCorrupt):
			res.Corrupt = append(res.Corrupt, key)
			continue
		case err != nil:
			return res, fmt.Errorf("jetflow: reading run %s: %w", key, err)
		}
		if f.Workflow != "" && run.Workflow != f.Workflow || f.Status != "" && Status(run.Status) != f.Status ||
			!f.Since.IsZero() && run.CreatedAt.Before(f.Since) || !f.Until.IsZero() && !run.CreatedAt.Before(f.Until) {
			continue
		}
		res.Runs = append(res.Runs, recordOf(run))
	}
	sort.Slice(res.Runs, func(i, j int) bool {
		a, b := res.Runs[i], res.Runs[j]
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return a.ID < b.ID
	})
	if f.Limit > 0 && len(res.Runs) > f.Limit {
		res.Runs = res.Runs[len(res.Runs)-f.Limit:]
	}
	return res, ctx.Err()
}
