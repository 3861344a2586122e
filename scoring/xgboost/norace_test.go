//go:build !race

package xgboost

const raceEnabled = false
