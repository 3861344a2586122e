// Package entitytest is test support for entity features: a synthetic
// log of transactions and activity, a features file using every aggregate
// function, a brute-force reference that evaluates DESIGN.md's definition
// directly, and a trivial model. Only tests import it.
package entitytest
