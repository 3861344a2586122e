// Package logging builds the process logger (log/slog) from LOG_LEVEL and
// LOG_FORMAT.
package logging
