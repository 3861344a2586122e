// Package entity is the per-lane entity state: the recent events of every
// entity, by kind, holding only the fields the aggregates read, and the
// windowed aggregates of DESIGN.md's "Entity features" computed from them
// exactly. (Full documentation follows in this package's doc.)
package entity
