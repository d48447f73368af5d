// Package cli holds the webhook binary's subcommands other than the server: providers, check, plan and sleep.
// Each takes its arguments and output streams and returns the process's exit status, so that main stays a
// dispatcher and the commands are tested in process.
//
// Exit status, for every command: 0 success (everything needed is in place), 1 something is missing or wrong
// (each problem says what to create or change), 2 the command line or the config is wrong.
package cli
