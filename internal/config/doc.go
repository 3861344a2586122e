// Package config reads streamscore's settings from environment variables
// (caarlos0/env) into one Config struct with defaults, and validates them:
// a bad value fails at start with an error that names the variable, the
// value and what is allowed.
package config
