module example.com/shop

go 1.26

require (
	example.com/thirdparty v0.0.0
	github.com/jetflow-dev/jetflow v0.0.0
)

replace (
	example.com/thirdparty => ./thirdparty
	github.com/jetflow-dev/jetflow => ./jetflow
)
