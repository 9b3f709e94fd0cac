package cleanup

// closedByTable is the answer of a TCP table read (Windows) to "has the
// port closed?": only a table that was read and holds no listener says
// closed. A table that cannot be read counts as "still listening": the
// wait then runs out and the candidate fails, never the other way round.
func closedByTable(listening bool, err error) bool { return err == nil && !listening }
