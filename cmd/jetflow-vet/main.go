// Command jetflow-vet reports code that is not deterministic in jetflow
// workflows: time.Now, go and select statements, map ranges that schedule
// steps, random numbers and I/O, each with the jetflow replacement (see
// package github.com/jetflow-dev/jetflow/workflow/analyzer).
//
// It runs standalone on package patterns, or as go vet's tool, which
// caches its results per package:
//
//	jetflow-vet ./...
//	go vet -vettool=$(which jetflow-vet) ./...
//
// It exits with status 3 when it reports anything (go vet: 1).
package main

import (
	"golang.org/x/tools/go/analysis/singlechecker"

	"github.com/jetflow-dev/jetflow/workflow/analyzer"
)

func main() { singlechecker.Main(analyzer.Analyzer) }
