// Package ui is the web page of `jetflow ui`: the runs of a namespace, a
// run's timeline, the shared circuit breakers and the schedules, live.
//
// Everything it shows is read from what the engine already keeps: run
// records, histories and breakers through workflow.Client, attempt times
// from the event stream, and live updates from core subscriptions to the
// status and breaker subjects, relayed to the browser as Server-Sent
// Events. There is no second database: a page is as fresh as JetStream.
//
// Pages are rendered on the server with html/template; one small embedded
// script (assets/ui.js) only listens to the events and swaps fragments in.
// Like every port of jetflow, an address beyond loopback needs a token;
// actions that change state (cancel, terminate, signal, breaker reset,
// schedule pause and trigger) are off unless Config.AllowActions is set.
//
//	srv, err := ui.New(ui.Config{Client: client, Env: env})
//	if err != nil { ... }
//	addr, err := srv.Serve(ctx, "127.0.0.1:0")
//	fmt.Println("open http://" + addr.String() + "/")
package ui
