package cleanup

import (
	"errors"
	"testing"
)

func TestClosedByTable_UnreadableTableIsNeverClosed(t *testing.T) {
	failed := errors.New("GetExtendedTcpTable(AF_INET): Access is denied.")
	for _, tc := range []struct {
		listening bool
		err       error
		want      bool
	}{
		{false, nil, true},
		{true, nil, false},
		{false, failed, false},
		{true, failed, false},
	} {
		if got := closedByTable(tc.listening, tc.err); got != tc.want {
			t.Errorf("closedByTable(%v, %v) = %v, want %v", tc.listening, tc.err, got, tc.want)
		}
	}
}
