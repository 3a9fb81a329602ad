// The part of jetflow's API the analyzer's fixtures use, with the real
// signatures (TestFixtureAPIMatchesJetflow compares them).
module github.com/jetflow-dev/jetflow

go 1.26
