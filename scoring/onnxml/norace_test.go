//go:build !race

package onnxml

const raceEnabled = false
