//go:build !unix

package cli

// terminalWidth returns 0 (unknown): the console assumes 80 columns.
func terminalWidth(*Env) int { return 0 }
