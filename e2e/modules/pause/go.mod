// The pod sandbox's pause process, written here (the upstream one is C, not a Go module).
module odpipe.dev/e2e/pause

go 1.24.0
