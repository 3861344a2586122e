// Package e2e holds tests of the real binaries (built into a temporary
// directory) against a devkafka broker in its own process, with clients
// nobody here wrote (kcat, i.e. librdkafka). They need kcat on PATH and
// are behind the "interop" build tag: go test -tags interop ./internal/e2e
package e2e
