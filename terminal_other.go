//go:build !unix

package main

// terminalWidth returns 0 (unknown): the console assumes 80 columns.
func terminalWidth(*env) int { return 0 }
