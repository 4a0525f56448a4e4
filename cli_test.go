package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHelpForEveryCommand(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "Usage: promptev-bridge <command> [flags]"},
		{[]string{"-h"}, "Usage: promptev-bridge <command> [flags]"},
		{[]string{"help"}, "Commands:"},
		{[]string{"help", "demo"}, "Usage: promptev-bridge demo"},
		{[]string{"init", "--help"}, "Usage: promptev-bridge init [--platforms slack,discord]"},
		{[]string{"run", "--help"}, "Usage: promptev-bridge run [--config FILE]"},
		{[]string{"check", "--help"}, "Usage: promptev-bridge check [--config FILE]"},
		{[]string{"demo", "--help"}, "--auto-approve"},
		{[]string{"chat", "-h"}, "Usage: promptev-bridge chat --agent ID"},
		{[]string{"store", "--help"}, "Usage: promptev-bridge store stats [--addr HOST:PORT | --config FILE | --db FILE]"},
		{[]string{"store", "stats", "--help"}, "--db reads a store file instead"},
		{[]string{"version", "--help"}, "Usage: promptev-bridge version"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runProgram(t, "", tt.args...)
			assert.Equal(t, exitOK, code)
			assert.Contains(t, stdout, tt.want)
			assert.Empty(t, stderr)
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown flag", []string{"check", "--nope"}, "flag provided but not defined: -nope"},
		{"stray argument", []string{"check", "extra"}, `unexpected argument "extra"`},
		{"chat without agent", []string{"chat"}, "--agent is required"},
		{"store without subcommand", []string{"store"}, "Usage: promptev-bridge store stats"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runProgram(t, "", tt.args...)
			assert.Equal(t, exitUsage, code)
			assert.Contains(t, stderr, tt.want)
		})
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		code, stdout, stderr := runProgram(t, "", args...)
		assert.Equal(t, exitOK, code, stderr)
		assert.Regexp(t, `^promptev-bridge \S+ \(.*go1\.\d+`, stdout)
	}
}

func TestRunIsTheDefaultCommand(t *testing.T) {
	code, _, stderr := runProgram(t, "", "--config", "does-not-exist.yaml")
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, stderr, "no config file at does-not-exist.yaml")
}

// A bare promptev-bridge (no config.yaml here) shows the first steps.
func TestRunWithoutConfigPointsAtInitAndDemo(t *testing.T) {
	_, err := os.Stat("config.yaml")
	require.True(t, os.IsNotExist(err), "the test needs a directory without config.yaml")
	for _, args := range [][]string{nil, {"run"}, {"check"}} {
		code, stdout, stderr := runProgram(t, "", args...)
		assert.Equal(t, exitFailure, code)
		out := stdout + stderr
		assert.Contains(t, out, "no config file at config.yaml")
		assert.Contains(t, out, "promptev-bridge init")
		assert.Contains(t, out, "promptev-bridge demo")
	}
}

func TestRunEntryPoint(t *testing.T) {
	var out, errOut strings.Builder
	code := run(context.Background(), []string{"version"}, strings.NewReader(""), &out, &errOut)
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out.String(), "promptev-bridge")
}
