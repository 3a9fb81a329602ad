package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jetflow-dev/jetflow/kv"
	"github.com/nats-io/nats.go/jetstream"
)

// GetConfirmed reads key from the steps or runs bucket (bucket is the
// bucket's name) and decodes it into v. A key that a direct get does not
// find is read again from the stream's leader before ErrNotFound is
// believed: direct gets may be served by a replica that is behind, and a
// task is parked on a "not found" that comes from the leader only.
func GetConfirmed[T any](ctx context.Context, e *Env, b jetstream.KeyValue, key string) (T, error) {
	v, _, err := kv.Get[T](ctx, b, key)
	if !errors.Is(err, kv.ErrNotFound) {
		return v, err
	}
	data, found, lerr := e.leaderGet(ctx, "KV_"+b.Bucket(), "$KV."+b.Bucket()+"."+key)
	switch {
	case lerr != nil:
		return v, fmt.Errorf("kv: reading %s from the leader: %w", key, lerr)
	case !found:
		return v, err
	}
	if uerr := kv.Unmarshal(data, &v); uerr != nil {
		return v, fmt.Errorf("%s: %w", key, uerr)
	}
	return v, nil
}

// leaderGet reads the last message on subj from stream's leader: a
// STREAM.MSG.GET request, which only the leader answers (nats.go uses direct
// gets, which any replica answers, on streams that allow them, as KV
// streams do). A deleted or purged key counts as not found.
func (e *Env) leaderGet(ctx context.Context, stream, subj string) ([]byte, bool, error) {
	req, err := json.Marshal(map[string]string{"last_by_subj": subj})
	if err != nil {
		return nil, false, err
	}
	msg, err := e.NC.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, req)
	if err != nil {
		return nil, false, err
	}
	var resp struct {
		Message *struct {
			Hdrs []byte `json:"hdrs"`
			Data []byte `json:"data"`
		} `json:"message"`
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, false, fmt.Errorf("decoding the leader's answer: %w", err)
	}
	switch {
	case resp.Error != nil && resp.Error.ErrCode == 10037: // no message found
		return nil, false, nil
	case resp.Error != nil:
		return nil, false, fmt.Errorf("%s (err_code %d)", resp.Error.Description, resp.Error.ErrCode)
	case resp.Message == nil:
		return nil, false, errors.New("the leader's answer holds no message")
	}
	if h := string(resp.Message.Hdrs); strings.Contains(h, "KV-Operation: DEL") || strings.Contains(h, "KV-Operation: PURGE") {
		return nil, false, nil
	}
	return resp.Message.Data, true, nil
}

// PurgeSchedules drops every delayed task (retries, timers) still scheduled
// for one execution.
func (e *Env) PurgeSchedules(ctx context.Context, execKey string) error {
	st, err := e.Stream(ctx, e.Names.TaskStream())
	if err != nil {
		return err
	}
	subj := e.Names.Prefix + ".sched." + execKey + ".>"
	if err := st.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
		return fmt.Errorf("jetflow: purging %s: %w", subj, err)
	}
	return nil
}
