//go:build !race

package lightgbm

const raceEnabled = false
