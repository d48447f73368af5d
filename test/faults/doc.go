//go:build integration

// Package faults injects faults into the fakes and servers the webhook talks to. Table to follow.
package faults
