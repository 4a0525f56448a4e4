package bridge

// Halt stands a killed process in for the replica tests: from now on the
// bridge holds no lease (its runs write nothing), releases none, hands
// nothing over, and its runs' agent turns are cut. The test then ends Run
// and closes the bridge's store.
func (b *Bridge) Halt() {
	b.shared.halted.Store(true)
	b.shared.paused.Store(true)
	b.cancelRuns()
}

// PauseLeases stops (true) or resumes (false) the renewal of the bridge's
// leases, as a long pause of the process would.
func (b *Bridge) PauseLeases(pause bool) { b.shared.paused.Store(pause) }
