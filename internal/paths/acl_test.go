package paths

import (
	"strings"
	"testing"
)

const testUser = "S-1-5-21-1004336348-1177238915-682003330-1001"

// Masks as icacls and the default ACLs have them.
const (
	maskFull        = 0x1f01ff // F
	maskModify      = 0x1301bf // M
	maskReadExecute = 0x1200a9 // RX
	genericAll      = 0x10000000
	genericWrite    = 0x40000000
	genericRead     = 0x80000000
)

// profileACL is %LOCALAPPDATA% as Windows sets it up: SYSTEM,
// Administrators and the user, all full control and inherited by children.
func profileACL() []ace {
	return []ace{
		{SID: sidSystem, Mask: maskFull, Flags: 0x13},
		{SID: sidAdministrators, Mask: maskFull, Flags: 0x13},
		{SID: testUser, Mask: maskFull, Flags: 0x13},
	}
}

func TestJudgeSecurity(t *testing.T) {
	cases := []struct {
		name string
		f    securityFacts
		want *aclProblem
	}{
		{"profile folder", securityFacts{Owner: testUser, ACEs: profileACL()}, nil},
		{"owner SID in another case", securityFacts{Owner: strings.ToLower(testUser), ACEs: profileACL()}, nil},
		{"owned by Administrators", securityFacts{Owner: sidAdministrators, ACEs: profileACL()}, &aclProblem{Owner: sidAdministrators}},
		{"owned by another user", securityFacts{Owner: "S-1-5-21-1-2-3-1002", ACEs: profileACL()}, &aclProblem{Owner: "S-1-5-21-1-2-3-1002"}},
		{"no DACL at all", securityFacts{Owner: testUser, NullDACL: true}, &aclProblem{NullDACL: true, Mask: writeRights}},
		{"empty DACL: nobody but the owner", securityFacts{Owner: testUser}, nil},
		// A folder made at the root of C:\ inherits this from the drive.
		{"C:\\ root: Authenticated Users Modify", securityFacts{Owner: testUser, ACEs: append(profileACL(),
			ace{SID: "S-1-5-32-545", Mask: maskReadExecute, Flags: 0x13},
			ace{SID: "S-1-5-11", Mask: maskModify, Flags: 0x10},
			ace{SID: "S-1-5-11", Mask: 0xe0010000, Flags: 0x1b})},
			&aclProblem{Writer: "S-1-5-11", Mask: maskModify}},
		{"Users read and execute only", securityFacts{Owner: testUser, ACEs: append(profileACL(),
			ace{SID: "S-1-5-32-545", Mask: maskReadExecute}, ace{SID: "S-1-5-32-545", Mask: genericRead, Flags: 0x1b})}, nil},
		{"Everyone GENERIC_ALL", securityFacts{Owner: testUser, ACEs: []ace{{SID: "S-1-1-0", Mask: genericAll}}},
			&aclProblem{Writer: "S-1-1-0", Mask: genericAll}},
		{"GENERIC_WRITE", securityFacts{Owner: testUser, ACEs: []ace{{SID: "S-1-5-32-545", Mask: genericWrite}}},
			&aclProblem{Writer: "S-1-5-32-545", Mask: genericWrite}},
		{"inherit-only write still counts", securityFacts{Owner: testUser, ACEs: []ace{{SID: "S-1-5-11", Mask: genericWrite, Flags: 0x1b}}},
			&aclProblem{Writer: "S-1-5-11", Mask: genericWrite}},
		{"CREATOR OWNER template", securityFacts{Owner: testUser, ACEs: append(profileACL(),
			ace{SID: sidCreatorOwner, Mask: genericAll, Flags: 0x1b})}, nil},
		{"CREATOR OWNER that applies here", securityFacts{Owner: testUser, ACEs: []ace{{SID: sidCreatorOwner, Mask: genericAll}}},
			&aclProblem{Writer: sidCreatorOwner, Mask: genericAll}},
		{"OWNER RIGHTS", securityFacts{Owner: testUser, ACEs: []ace{{SID: sidOwnerRights, Mask: maskFull}}}, nil},
		{"a deny entry grants nothing", securityFacts{Owner: testUser, ACEs: []ace{{SID: "S-1-1-0", Mask: maskFull, Type: 1}}}, nil},
		{"object allow entry", securityFacts{Owner: testUser, ACEs: []ace{{SID: "S-1-1-0", Mask: 0x2, Type: aceAccessAllowedObject}}},
			&aclProblem{Writer: "S-1-1-0", Mask: 0x2}},
		{"callback allow entry", securityFacts{Owner: testUser, ACEs: []ace{{SID: "S-1-1-0", Mask: 0x4, Type: aceAccessAllowedCallback}}},
			&aclProblem{Writer: "S-1-1-0", Mask: 0x4}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := judgeSecurity(tc.f, testUser)
			if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
				t.Errorf("judgeSecurity = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestJudgeSecurity_EachWriteRight: every right that changes a folder or a
// file is refused on its own for a stranger; reading, listing, traversing,
// reading attributes and permissions, and SYNCHRONIZE are not.
func TestJudgeSecurity_EachWriteRight(t *testing.T) {
	refused := map[string]uint32{
		"FILE_WRITE_DATA / FILE_ADD_FILE":          0x2,
		"FILE_APPEND_DATA / FILE_ADD_SUBDIRECTORY": 0x4,
		"FILE_WRITE_EA":                            0x10,
		"FILE_DELETE_CHILD":                        0x40,
		"FILE_WRITE_ATTRIBUTES":                    0x100,
		"DELETE":                                   0x10000,
		"WRITE_DAC":                                0x40000,
		"WRITE_OWNER":                              0x80000,
		"GENERIC_ALL":                              genericAll,
		"GENERIC_WRITE":                            genericWrite,
	}
	for name, mask := range refused {
		f := securityFacts{Owner: testUser, ACEs: []ace{{SID: "S-1-5-11", Mask: mask}}}
		if judgeSecurity(f, testUser) == nil {
			t.Errorf("%s (%#x) for Authenticated Users is trusted", name, mask)
		}
		for _, trusted := range []string{testUser, sidSystem, sidAdministrators} {
			f.ACEs[0].SID = trusted
			if p := judgeSecurity(f, testUser); p != nil {
				t.Errorf("%s for %s refused: %+v", name, trusted, p)
			}
		}
	}
	// FILE_READ_DATA, FILE_READ_EA, FILE_EXECUTE, FILE_READ_ATTRIBUTES,
	// READ_CONTROL, SYNCHRONIZE, GENERIC_READ, GENERIC_EXECUTE.
	for _, mask := range []uint32{0x1, 0x8, 0x20, 0x80, 0x20000, 0x100000, genericRead, 0x20000000} {
		f := securityFacts{Owner: testUser, ACEs: []ace{{SID: "S-1-1-0", Mask: mask}}}
		if p := judgeSecurity(f, testUser); p != nil {
			t.Errorf("read-only right %#x refused: %+v", mask, p)
		}
	}
}

func TestACLFixAndReason(t *testing.T) {
	fix := aclFix(`C:\sk`, `DESKTOP\ann`, true)
	for _, want := range []string{`icacls "C:\sk" /setowner "DESKTOP\ann"`, `/inheritance:r`, `/grant:r "DESKTOP\ann:(OI)(CI)F"`, `"*S-1-5-18:(OI)(CI)F"`, `"*S-1-5-32-544:(OI)(CI)F"`} {
		if !strings.Contains(fix, want) {
			t.Errorf("fix %q lacks %q", fix, want)
		}
	}
	if fix := aclFix(`C:\sk\auth\session.json`, "*"+testUser, false); !strings.Contains(fix, `"*`+testUser+`:F"`) || strings.Contains(fix, "(OI)") {
		t.Errorf("file fix %q", fix)
	}
	name := func(sid string) string {
		if sid == "S-1-5-11" {
			return `NT AUTHORITY\Authenticated Users (S-1-5-11)`
		}
		return sid
	}
	for p, want := range map[*aclProblem]string{
		{Writer: "S-1-5-11", Mask: maskModify}: `writable by NT AUTHORITY\Authenticated Users (S-1-5-11) (access mask 0x1301bf)`,
		{Owner: sidAdministrators}:             "owned by S-1-5-32-544, not you",
		{NullDACL: true, Mask: writeRights}:    "open to everyone (no access control list)",
	} {
		if got := describeProblem(p, name); got != want {
			t.Errorf("describeProblem(%+v) = %q, want %q", p, got, want)
		}
	}
	// The whole refusal is one line naming the path and the fix.
	err := &UntrustedError{Path: `C:\sk`, Reason: describeProblem(&aclProblem{Writer: "S-1-5-11", Mask: maskModify}, name), Fix: fix}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, `C:\sk`) || !strings.Contains(msg, "icacls") {
		t.Errorf("refusal %q", msg)
	}
}

func TestNotRegular(t *testing.T) {
	const fileTypeChar, fileTypePipe = 0x2, 0x3
	const archive, normal = 0x20, 0x80
	for _, tc := range []struct {
		attrs, kind uint32
		regular     bool
	}{
		{normal, fileTypeDisk, true},
		{archive, fileTypeDisk, true},
		{archive | fileAttributeReparsePoint, fileTypeDisk, false},                               // a file symlink
		{fileAttributeDirectory | fileAttributeReparsePoint, fileTypeDisk, false},                // a junction
		{fileAttributeDirectory, fileTypeDisk, false},                                            // a folder
		{normal, fileTypePipe, false},                                                            // \\.\pipe\x
		{normal, fileTypeChar, false},                                                            // NUL, CON
		{archive | 0x400000 /* RECALL_ON_DATA_ACCESS */, fileTypeDisk, true},                     // plain attribute
		{archive | fileAttributeReparsePoint | 0x400000 /* a cloud file */, fileTypeDisk, false}, // any reparse tag
	} {
		if got := notRegular(tc.attrs, tc.kind); (got == "") != tc.regular {
			t.Errorf("notRegular(%#x, %d) = %q, want regular %v", tc.attrs, tc.kind, got, tc.regular)
		}
	}
}

// TestSIDFollowsMask: the SID of an allow or deny entry (plain or callback)
// is read from right after the mask; an object entry's is not, since GUIDs
// come first, and its SID stays "" (a stranger).
func TestSIDFollowsMask(t *testing.T) {
	for typ, want := range map[uint8]bool{
		aceAccessAllowed: true, aceAccessDenied: true, aceAccessAllowedCallback: true, aceAccessDeniedCallback: true,
		aceAccessAllowedObject: false, aceAccessAllowedCallbackObject: false, 0x2 /* audit */ : false,
	} {
		if got := sidFollowsMask(typ); got != want {
			t.Errorf("sidFollowsMask(%#x) = %v, want %v", typ, got, want)
		}
	}
	if judgeSecurity(securityFacts{Owner: testUser, ACEs: []ace{{SID: "", Mask: 0x2, Type: aceAccessAllowedObject}}}, testUser) == nil {
		t.Error("an object entry with an unread SID that grants write is trusted")
	}
}
