package ui

import "errors"

// ErrInsecureListen is returned by Serve and CheckAddr for an address beyond
// loopback (an empty host binds every interface) without a token.
var ErrInsecureListen = errors.New("ui: refusing to serve on a non-loopback address without a token")

// ErrActionsOff is what an action answers (403) when the page runs
// without Config.AllowActions.
var ErrActionsOff = errors.New("ui: actions are off; start jetflow ui with --allow-actions to allow them")
