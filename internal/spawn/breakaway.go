package spawn

// createBreakawayFromJob is Windows' CREATE_BREAKAWAY_FROM_JOB: the child
// leaves the job object its spawner runs in. A daemon started from a shell,
// an IDE or a CI runner that wraps its children in a kill-on-close job
// would otherwise die when that job closes, however detached it is.
const createBreakawayFromJob = 0x01000000

// withBreakaway starts a process with the breakaway flag added to flags
// and, when the job the caller runs in does not allow breakaway (no
// JOB_OBJECT_LIMIT_BREAKAWAY_OK: creation is denied), starts it again
// without: a daemon that stays in the job beats no daemon. Any other
// failure is returned as it is. It has no build tag so its decision is
// tested on every platform; only Windows calls it.
func withBreakaway[T any](flags uint32, start func(flags uint32) (T, error), denied func(error) bool) (T, error) {
	v, err := start(flags | createBreakawayFromJob)
	if err != nil && denied(err) {
		return start(flags)
	}
	return v, err
}
