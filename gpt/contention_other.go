//go:build !linux

package gpt

func openRunning() runningSource { return nil }
