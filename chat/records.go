package chat

// RecordFuncs receive the records of a store, one function per kind, for a
// store's Export (moving from one backend to another). A nil function skips
// its kind.
type RecordFuncs struct {
	Conversation func(Conversation) error
	Approval     func(Approval) error
	Run          func(InFlightRun) error
	// RunRecord receives the run records (a run's Stop, a failure's Retry).
	RunRecord func(RunRecord) error
	// Grant receives the conversation grants of approvals.
	Grant    func(Grant) error
	Feedback func(FeedbackRecord) error
	// Installation receives the app installations (their tokens sealed).
	Installation func(Installation) error
}
