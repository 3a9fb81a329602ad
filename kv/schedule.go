package kv

import "time"

// ScheduleKeyPrefix is where schedules live in the runs bucket: under
// "sched.<id>". A run ID cannot hold a '.', so no run's key is a
// schedule's.
const ScheduleKeyPrefix = "sched."

// ScheduleKey is the key of schedule id in the runs bucket.
func ScheduleKey(id string) string { return ScheduleKeyPrefix + id }

// Schedule is a schedule's record: when it fires (Cron in TimeZone,
// between Start and End, each tick delayed by up to Jitter), what it starts
// (a run of Workflow with Input, its ID from IDTemplate), its policies, and
// its state. Every change is a revision-checked write.
type Schedule struct {
	ID       string        `msgpack:"id"`
	Cron     []string      `msgpack:"c"`
	TimeZone string        `msgpack:"tz,omitempty"`
	Start    time.Time     `msgpack:"sa,omitempty"`
	End      time.Time     `msgpack:"ea,omitempty"`
	Jitter   time.Duration `msgpack:"j,omitempty"`

	Workflow   string `msgpack:"wf"`
	Input      []byte `msgpack:"in,omitempty"`
	IDTemplate string `msgpack:"tpl,omitempty"`

	Overlap string        `msgpack:"ov,omitempty"`
	Catchup time.Duration `msgpack:"cu,omitempty"`
	// Limit is the most runs the schedule starts (0: no limit).
	Limit int `msgpack:"lim,omitempty"`

	Paused bool   `msgpack:"p,omitempty"`
	Note   string `msgpack:"n,omitempty"`
	// Last is the nominal time of the last tick handled (started, skipped,
	// buffered or missed): the next tick is the first after it.
	Last time.Time `msgpack:"l,omitempty"`
	// Requested are ticks asked for by hand (trigger, backfill), handled
	// at the next wake-up whatever their age.
	Requested []ScheduleTick `msgpack:"rq,omitempty"`
	// Buffered are ticks waiting for the schedule's open run to end
	// (overlap buffer_one and buffer_all).
	Buffered []ScheduleTick `msgpack:"bf,omitempty"`
	// Pending are runs decided and not yet confirmed started: whoever
	// handles the schedule next starts them (a start is idempotent).
	Pending []ScheduleRun `msgpack:"pd,omitempty"`
	// Recent are the last runs the schedule started, newest last.
	Recent []ScheduleRun `msgpack:"rr,omitempty"`

	Started int `msgpack:"ns,omitempty"`
	Missed  int `msgpack:"nm,omitempty"`
	Skipped int `msgpack:"nk,omitempty"`
	// Done says why the schedule starts nothing more ("limit", "end").
	Done string `msgpack:"d,omitempty"`

	CreatedAt time.Time `msgpack:"ct"`
	UpdatedAt time.Time `msgpack:"ua,omitempty"`
}

// ScheduleTick is one nominal time of a schedule; Trigger marks one asked
// for by hand to run now (its run ID says so, apart from the timetable's).
type ScheduleTick struct {
	At      time.Time `msgpack:"at"`
	Trigger bool      `msgpack:"m,omitempty"`
}

// ScheduleRun is a run a schedule decided to start for a tick, and what to
// do first to the run before it (overlap cancel_other or terminate_other).
type ScheduleRun struct {
	WorkflowID string    `msgpack:"id"`
	Nominal    time.Time `msgpack:"at"`
	Decided    time.Time `msgpack:"dc"`
	Stop       string    `msgpack:"st,omitempty"`
	StopID     string    `msgpack:"sid,omitempty"`
}
